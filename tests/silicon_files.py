"""Where the measured runs of ``../shared/silicon/`` are, for the tests that read them (None when absent)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_silicon(name: str) -> Path | None:
    """``shared/silicon/NAME`` beside the repository (or one level up), or None when it is not there."""
    return next((p / "shared" / "silicon" / name for p in (ROOT.parent, ROOT.parent.parent)
                 if (p / "shared" / "silicon" / name).is_file()), None)
