#!/usr/bin/env python3
"""Write the SGLang / vLLM flag catalogs from the engines' own published wheels.

    .venv/bin/python scripts/gen_flag_catalogs.py [--engine sglang|vllm] [--version V ...] [--wheel PATH ...]
                                                  [--newest N] [--out DIR]

For each release: ``pip download --no-deps <engine>==<V>`` into a temporary directory (or take a wheel
already on disk with ``--wheel``), read the argument definitions statically from the wheel (nothing
is imported or installed; see ``autotuner.engines.catalog.catalog_parse``) and write
``src/autotuner/engines/catalogs/<engine>-<V>.json``. Without ``--version`` the ``--newest`` N
releases that ``pip index versions`` lists are generated. Wheels are never kept.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from autotuner.engines.catalog.catalog_parse import sglang_flags, vllm_flags
from autotuner.engines.catalog.catalog_static import SourceTree

PARSERS = {"sglang": sglang_flags, "vllm": vllm_flags}
OUT = ROOT / "src" / "autotuner" / "engines" / "catalogs"
TOOL = "scripts/gen_flag_catalogs.py"


def released_versions(engine: str) -> list[str]:
    """Newest first, as ``pip index versions`` prints them."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", engine],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"Available versions:\s*(.+)", out)
    if not match:
        raise SystemExit(f"pip index versions {engine}: no versions in output:\n{out}")
    return [v.strip() for v in match.group(1).split(",") if v.strip()]


def download(engine: str, version: str, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           f"{engine}=={version}", "-d", str(folder)]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(folder.glob(f"{engine}-{version}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download {engine}=={version} failed: {result.stderr.strip()[-500:]}")
    return wheels[0]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_catalog(engine: str, version: str, wheel: Path) -> dict[str, Any]:
    flags, gaps = PARSERS[engine](SourceTree.from_wheel(wheel))
    provenance: dict[str, Any] = {"source": wheel.name, "sha256": sha256(wheel),
                                  "generated": _dt.date.today().isoformat(), "tool": TOOL}
    notes = summarize_gaps(gaps)
    if notes:
        provenance["notes"] = notes
    return {"engine": engine, "version": version, "provenance": provenance,
            "flags": dict(sorted(flags.items()))}


def summarize_gaps(gaps: list[str]) -> list[str]:
    """``["flag: default", ...]`` -> one line per kind of gap."""
    by_kind: dict[str, list[str]] = {}
    other: list[str] = []
    for gap in gaps:
        flag, _, what = gap.partition(": ")
        if what in ("default", "choices", "known values"):
            by_kind.setdefault(what, []).append(flag)
        else:
            other.append(gap)
    lines = [f"{what} not statically known (left null): {', '.join(sorted(set(flags)))}"
             for what, flags in sorted(by_kind.items())]
    return lines + other


def write(catalog: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{catalog['engine']}-{catalog['version']}.json"
    path.write_text(dumps(catalog))
    return path


def dumps(catalog: dict[str, Any]) -> str:
    """Compact JSON with one flag per line, so a new release's diff reads flag by flag."""
    head = {k: v for k, v in catalog.items() if k != "flags"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "flags": {']
    rows = [f"  {json.dumps(name)}: {json.dumps(entry, ensure_ascii=False, separators=(',', ':'))}"
            for name, entry in catalog["flags"].items()]
    return "\n".join(lines) + "\n" + ",\n".join(rows) + "\n }\n}\n"


def wheel_version(engine: str, wheel: Path) -> str:
    match = re.match(rf"{engine}-([^-]+)-", wheel.name)
    if not match:
        raise SystemExit(f"{wheel.name}: not a {engine} wheel")
    return match.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=sorted(PARSERS), action="append",
                        help="engine(s) to generate (default: both)")
    parser.add_argument("--version", action="append", default=[], help="release(s) to generate")
    parser.add_argument("--wheel", action="append", default=[], type=Path,
                        help="use this downloaded wheel instead of pip download")
    parser.add_argument("--newest", type=int, default=2, help="without --version: how many newest releases")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    engines = args.engine or sorted(PARSERS)
    failures = 0
    for engine in engines:
        wheels = [w for w in args.wheel if w.name.startswith(f"{engine}-")]
        if wheels:
            jobs = [(wheel_version(engine, w), w) for w in wheels]
        else:
            versions = args.version or released_versions(engine)[: args.newest]
            jobs = [(v, None) for v in versions]
        for version, wheel in jobs:
            try:
                if wheel is not None:
                    catalog = build_catalog(engine, version, wheel)
                else:
                    with tempfile.TemporaryDirectory(prefix=f"flagcat-{engine}-") as tmp:
                        catalog = build_catalog(engine, version, download(engine, version, Path(tmp)))
            except (RuntimeError, ValueError, OSError, SyntaxError, KeyError) as exc:  # go on with the others
                print(f"{engine} {version}: FAILED: {exc}", file=sys.stderr)
                failures += 1
                continue
            path = write(catalog, args.out)
            notes = catalog["provenance"].get("notes", [])
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            print(f"{engine} {version}: {len(catalog['flags'])} flags -> {shown}"
                  + (f" ({len(notes)} note(s))" if notes else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
