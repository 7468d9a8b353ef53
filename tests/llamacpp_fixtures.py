"""Test helpers for llama.cpp: tiny GGUF headers and a fake installed model package."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def write_gguf(path: Path, context_length: int | None = 2048) -> Path:
    """A GGUF v3 header with an architecture, a string-array vocabulary and (optionally) a context length."""
    kvs = [_string("general.architecture") + struct.pack("<I", 8) + _string("llama"),
           _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + b"".join(map(_string, ["a", "b", "c"])),
           _string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0, 0, 0)]
    if context_length is not None:
        kvs.append(_string("llama.context_length") + struct.pack("<II", 4, context_length))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))
    return path


def make_model_package(root: Path, dist: str, files: list[str], with_metadata: bool = True) -> Path:
    """An installed-looking package ``root/<import name>/`` carrying GGUF files (+ dist-info when asked)."""
    import_name = dist.replace("-", "_")
    pkg = root / import_name
    pkg.mkdir(parents=True)
    # importing it would fail, as real model packages importing absent plugins do
    (pkg / "__init__.py").write_text("raise ImportError('model packages must not be imported')\n")
    for name in files:
        write_gguf(pkg / name)
    if with_metadata:
        info = root / f"{import_name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        record = [f"{import_name}/__init__.py,,"] + [f"{import_name}/{n},," for n in files]
        (info / "RECORD").write_text("\n".join(record + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]) + "\n")
    return pkg
