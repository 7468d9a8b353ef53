#!/usr/bin/env python3
"""Write the TensorRT-LLM flag catalog from the ``tensorrt-llm`` distribution, read statically.

    .venv/bin/python scripts/gen_trtllm_catalog.py [--version 1.2.1] [--wheel PATH | --source DIR] [--out DIR]

The PyPI project ``tensorrt-llm`` is a stub whose build downloads the real wheel from
https://pypi.nvidia.com, so the wheel is fetched from there (``pip download --no-deps
--extra-index-url https://pypi.nvidia.com``); ``--wheel`` takes one already on disk and ``--source``
a directory holding ``tensorrt_llm/commands/serve.py`` and ``tensorrt_llm/llmapi/llm_args.py`` (a
checkout of the release tag). Nothing is imported or installed (``autotuner.engines.catalog.catalog_trtllm``);
the catalog lists trtllm-serve's options and, prefixed ``extra.``, the LLM-API options of the
``--extra_llm_api_options`` YAML. Writes ``src/autotuner/engines/catalogs/trtllm-<V>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from gen_flag_catalogs import OUT, sha256, summarize_gaps, write  # noqa: E402

from autotuner.engines.catalog.catalog_static import SourceTree  # noqa: E402
from autotuner.engines.catalog.catalog_trtllm import trtllm_flags  # noqa: E402

TOOL = "scripts/gen_trtllm_catalog.py"
NVIDIA_INDEX = "https://pypi.nvidia.com"
DEFAULT_VERSION = "1.2.1"


def download(version: str, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--extra-index-url", NVIDIA_INDEX, f"tensorrt-llm=={version}", "-d", str(folder)]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(folder.glob(f"tensorrt_llm-{version}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download tensorrt-llm=={version} failed: {result.stderr.strip()[-500:]}")
    return wheels[0]


def source_tree(folder: Path) -> tuple[SourceTree, str]:
    """The ``.py`` files under ``folder`` and a digest of them (the provenance of a source build)."""
    files = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.py"))}
    if not files:
        raise RuntimeError(f"{folder}: no Python files")
    digest = hashlib.sha256("".join(k + v for k, v in files.items()).encode()).hexdigest()
    return SourceTree(files), digest


def build_catalog(version: str, tree: SourceTree, source: str, digest: str) -> dict[str, Any]:
    flags, gaps = trtllm_flags(tree)
    provenance: dict[str, Any] = {"source": source, "sha256": digest,
                                  "generated": _dt.date.today().isoformat(), "tool": TOOL}
    notes = summarize_gaps(gaps)
    if notes:
        provenance["notes"] = notes
    return {"engine": "trtllm", "version": version, "provenance": provenance,
            "flags": dict(sorted(flags.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=DEFAULT_VERSION)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--wheel", type=Path, help="a downloaded tensorrt_llm wheel")
    group.add_argument("--source", type=Path, help="a directory with the release's tensorrt_llm/ sources")
    parser.add_argument("--note", action="append", default=[], help="a provenance note to keep")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        if args.source is not None:
            tree, digest = source_tree(args.source)
            catalog = build_catalog(args.version, tree, f"source tree {args.source.name}", digest)
        elif args.wheel is not None:
            catalog = build_catalog(args.version, SourceTree.from_wheel(args.wheel), args.wheel.name,
                                    sha256(args.wheel))
        else:
            with tempfile.TemporaryDirectory(prefix="flagcat-trtllm-") as tmp:
                wheel = download(args.version, Path(tmp))
                catalog = build_catalog(args.version, SourceTree.from_wheel(wheel), wheel.name, sha256(wheel))
    except (RuntimeError, KeyError, OSError, SyntaxError) as exc:
        print(f"trtllm {args.version}: FAILED: {exc}", file=sys.stderr)
        return 1
    if args.note:
        catalog["provenance"]["notes"] = list(catalog["provenance"].get("notes", [])) + args.note
    path = write(catalog, args.out)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"trtllm {args.version}: {len(catalog['flags'])} flags -> {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
