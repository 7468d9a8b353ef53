"""``autotuner report`` on the demo task, opened in a real headless Chromium with the network off:
no console error; the best, the gain, the importance chart and the Pareto plot are visible.

Needs /usr/bin/chromium and the playwright package (scripts/install_chromium.sh); skipped otherwise.
Leaves test-output/report.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .browser_support import OUT, browser  # noqa: F401 (browser: the fixture)
from .report_fixtures import DEMO, cli, run_demo

pytestmark = pytest.mark.slow
MAX_BYTES = 8_000_000  # "a few MB": Plotly.js inlined is most of it


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    demo = run_demo(tmp)
    assert demo.returncode == 0, demo.stdout
    target = tmp / "shared" / "quickstart-report.html"
    done = cli("report", str(DEMO), "--db", demo.db, "--html", str(target))
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    return target



def test_report_is_self_contained_and_small(report_file):
    text = report_file.read_text(encoding="utf-8")
    assert report_file.stat().st_size < MAX_BYTES
    # Every script is inline (Plotly.js included) and no stylesheet is linked; the browser test
    # below checks that opening it asks for nothing but the file.
    assert re.findall(r"<script[^>]*>", text) == ["<script>"] * text.count("<script")
    assert "<link rel=\"stylesheet\"" not in text and "Plotly.newPlot" in text


def test_report_opens_offline_with_its_charts(browser, report_file):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.continue_())
                  if route.request.url.startswith("file://") else (requests.append(route.request.url), route.abort()))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.set_default_timeout(30_000)
    try:
        page.goto(report_file.as_uri())
        page.wait_for_function("window.Plotly !== undefined")
        for chart in ("chart-importance", "chart-pareto", "chart-flags"):
            page.wait_for_selector(f"#{chart} .main-svg", state="visible")
        # The best: its number within the task, its score and the launch command.
        assert page.is_visible("#best") and page.text_content("#best .big").startswith("#")
        assert float(page.text_content("#best-score").split()[0].replace(",", "")) > 0
        assert page.text_content("#launch").startswith("python -m sglang.launch_server")
        # The gain over the defaults, signed, with what it rests on.
        gain = page.text_content("#gain").strip()
        assert gain[0] in "+-" and gain.endswith("%"), gain
        # The importance chart names the tuned flags; the Pareto plot draws its points.
        bars = page.locator("#chart-importance .ytick text").all_text_contents()
        assert set(bars) <= {"tp-size", "max-running-requests", "mem-fraction-static", "enable-mixed-chunk"} and bars
        assert page.locator("#chart-pareto .scatterlayer .point").count() >= 3
        # Failed starts are drawn at their parameters in the per-flag chart, each flag on category axes.
        flags = page.evaluate("""(() => { const g = document.getElementById('chart-flags');
            return { failed: g.data.filter(t => t.name === 'failed').reduce((n, t) => n + t.x.length, 0),
                     types: Object.keys(g.layout).filter(k => k.startsWith('xaxis')).map(k => g.layout[k].type) }; })()""")
        assert flags["failed"] > 0 and set(flags["types"]) == {"category"}, flags
        # The demo's OOM configurations are listed with their reason.
        assert "out of memory" in page.text_content("#failures").lower()
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / "report.png"), full_page=True)
    finally:
        context.close()
    assert problems == [], problems
    assert all(url.startswith("file://") for url in requests), requests
