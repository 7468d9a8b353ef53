"""A real headless Chromium for the browser tests: Debian's, driven by Playwright (never downloaded).

Needs /usr/bin/chromium and the playwright package (scripts/install_chromium.sh); tests using the
``browser`` fixture are skipped otherwise. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUT = Path(__file__).resolve().parents[1] / "test-output"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (scripts/install_chromium.sh)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/install_chromium.sh)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
