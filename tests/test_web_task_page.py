"""The task page in a real headless Chromium on a task where one configuration runs out of memory on
the simulated engine: the gain over the defaults is shown, the experiment numbers on the objective
chart are the table's, the OOM experiment is in that chart with its reason on hover, axes carry units,
categorical flags are drawn as categories, the toolbar covers no title, and the report downloads.

Needs /usr/bin/chromium and the playwright package (scripts/install_chromium.sh); skipped otherwise.
Leaves test-output/task-page-oom.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import yaml

from .api_fakes import wait_for
from .browser_support import OUT, browser  # noqa: F401 (browser: the fixture)
from .serve_support import ROOT, require_sim, serve

pytestmark = pytest.mark.slow
FINISHED = ("succeeded", "failed", "cancelled")


def demo_task(name: str, space: dict, budget: int) -> dict:
    """The demo (examples/quickstart.yaml) over a smaller space: mem-fraction-static 0.97 OOMs on the sim."""
    doc = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    doc["name"] = name
    doc["search"] = {**doc["search"], "space": space, "max_experiments": budget}
    return doc


def run_task(base: str, doc: dict) -> int:
    reply = httpx.post(f"{base}/api/tasks", json={"task": doc, "virtual_time": True}, timeout=30)
    assert reply.status_code == 201, reply.text
    task_id = reply.json()["id"]
    status = wait_for(lambda: (s := httpx.get(f"{base}/api/tasks/{task_id}").json()["status"]) in FINISHED and s,
                      timeout=240, interval=0.5)
    assert status == "succeeded"
    return task_id



@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """A first task (so database ids run ahead of the second task's numbers), then the OOM task."""
    require_sim()
    tmp = tmp_path_factory.mktemp("task-page")
    with serve(f"sqlite:///{tmp / 'db.sqlite'}", tmp, workers=1) as base:
        run_task(base, demo_task("warm-up", {"max-running-requests": [4, 64]}, 2))
        space = {"tp-size": [1, 2], "mem-fraction-static": [0.85, 0.97], "enable-mixed-chunk": [False, True]}
        oom = run_task(base, demo_task("oom-space", space, 8))
        yield base, oom


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert errors == [], errors


def chart_traces(page, chart: str) -> list[dict]:
    return page.evaluate(f"""document.getElementById('{chart}').data.map(t => ({{
        name: t.name, type: t.type, mode: t.mode, x: t.x, text: t.text, dimensions: t.dimensions &&
        t.dimensions.map(d => ({{label: d.label, ticktext: d.ticktext || null}})) }}))""")


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or
                a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_task_page_numbers_gain_oom_units_and_report(page, tasks):
    base, task_id = tasks
    detail = httpx.get(f"{base}/api/tasks/{task_id}").json()
    page.goto(f"{base}/tasks/{task_id}")
    page.wait_for_function("document.querySelectorAll('#chart-objective .main-svg').length > 0")
    page.wait_for_function("document.querySelectorAll('#chart-parallel .main-svg').length > 0")
    page.wait_for_selector("#experiments tbody tr td")

    # The gain over the engine's defaults, as the API computes it, with what its spread rests on.
    gain = detail["best_detail"]["gain"]
    shown = page.text_content("#best-gain")
    assert re.fullmatch(r"[+-]\d+\.\d%", shown) and float(shown[:-1]) == pytest.approx(100 * gain["change"], abs=0.06)
    assert gain["change"] > 0 and not detail["best_detail"]["baseline"]  # --enable-mixed-chunk beats the defaults
    assert page.text_content("#best-gain-spread").strip().startswith("(")
    assert page.text_content("#best-link") == f"experiment #{detail['best_detail']['n']}"

    # The table numbers experiments within the task; the database ids run on from the first task.
    rows = page.evaluate("""[...document.querySelectorAll('#experiments tbody tr')].map(r => ({
        no: r.querySelector('a.exp-no').textContent, id: Number(r.dataset.expId),
        status: r.querySelector('.badge').textContent, cells: [...r.cells].map(c => c.textContent)}))""")
    numbers = sorted(int(r["no"].lstrip("#")) for r in rows)
    assert numbers == list(range(1, len(rows) + 1)) and len(rows) == 9  # the baseline and 8 tried
    assert min(r["id"] for r in rows) > 1
    by_no = {int(r["no"].lstrip("#")): r for r in rows}

    # The objective chart's points carry the same numbers as the table, each point its own row.
    traces = chart_traces(page, "chart-objective")
    points = {}
    for t in traces:
        if t["mode"] == "markers":
            for x, text in zip(t["x"], t["text"]):
                assert text.startswith(f"#{x} "), (x, text)
                points[x] = (t["name"], text)
    tried = {n for n, r in by_no.items() if "default" not in r["cells"][2]}
    assert set(points) == tried

    # The OOM experiment is in the chart, at its parameters, its reason on hover.
    failed = [n for n, r in by_no.items() if r["status"] == "failed"]
    assert failed, "mem-fraction-static 0.97 should run out of memory on the simulated engine"
    for n in failed:
        name, text = points[n]
        assert name.startswith("failed") and "mem-fraction-static=0.97" in text and "out of memory" in text.lower()
    index = next(i for i, t in enumerate(traces) if (t["name"] or "").startswith("failed"))
    marker = page.locator("#chart-objective .scatterlayer .trace").nth(index).locator(".point").first
    box = marker.bounding_box()  # Plotly's drag layer takes the pointer: move the mouse, not a hover on the path
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#chart-objective .hoverlayer .hovertext")
    assert "out of memory" in page.text_content("#chart-objective .hoverlayer").lower()

    # Units on the axes and the table's metric columns; categories for flags tuned over a list.
    assert "(tok/s/GPU)" in page.text_content("#chart-objective .g-ytitle")
    assert "(ms)" in page.text_content("#chart-latency .g-ytitle")
    assert "(ms)" in page.text_content("#chart-latency .g-y2title")
    headers = page.locator("#experiments thead th").all_text_contents()
    assert "ttft_p90 (ms)" in headers and "output_throughput_per_gpu (tok/s/GPU)" in headers
    dims = {d["label"]: d["ticktext"] for d in chart_traces(page, "chart-parallel")[0]["dimensions"]}
    assert dims["tp-size"] == ["1", "2"] and dims["mem-fraction-static"] == ["0.85", "0.97"]
    ticks = page.locator("#chart-parallel .tick text").all_text_contents()
    assert "1.2" not in ticks and "1.5" not in ticks

    # Plotly's toolbar, shown on hover, covers no chart title.
    for chart in ("chart-objective", "chart-latency", "chart-parallel"):
        plot = page.locator(f"#{chart}").bounding_box()
        page.mouse.move(plot["x"] + plot["width"] / 2, plot["y"] + plot["height"] / 2)
        bar = page.locator(f"#{chart} .modebar").bounding_box()
        title = page.locator(f"#{chart}-title").bounding_box()
        assert bar and title and title["width"] > 0 and not boxes_overlap(bar, title), chart
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / "task-page-oom.png"), full_page=True)

    # The report, as `autotuner report` writes it, is a download.
    with page.expect_download() as download:
        page.click("#btn-report")
    assert download.value.suggested_filename == "oom-space-report.html"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "autotuner report: oom-space" in text and 'id="chart-pareto"' in text


def test_experiment_page_of_the_oom_experiment(page, tasks):
    base, task_id = tasks
    items = httpx.get(f"{base}/api/tasks/{task_id}/experiments?limit=100").json()["items"]
    oom = next(e for e in items if e["status"] == "failed")
    ok = next(e for e in items if e["status"] == "succeeded" and not e["baseline"])
    page.goto(f"{base}/experiments/{oom['id']}")
    page.wait_for_function("document.getElementById('exp-status').textContent === 'failed'")
    assert page.text_content("#exp-title") == f"Experiment #{oom['n']} of oom-space"
    summary = page.locator("#exp-summary th").all_text_contents()
    assert "GPU ids" in summary and "GPUs" not in summary
    assert "phase" not in summary  # finished: no empty phase row
    assert "out of memory" in page.text_content("#exp-error").lower()
    page.goto(f"{base}/experiments/{ok['id']}")
    page.wait_for_selector("#levels tbody tr td.num")
    headers = page.locator("#levels thead th").all_text_contents()
    assert "ttft_p90 (ms)" in headers and "output_throughput (tok/s)" in headers and "duration (s)" in headers
    level = next(lv for lv in httpx.get(f"{base}/api/experiments/{ok['id']}").json()["levels"])
    cell = page.locator("#levels tbody tr").first.locator("td").nth(headers.index("ttft_p90 (ms)"))
    assert float(cell.text_content()) == pytest.approx(1000 * level["metrics"]["ttft_p90"], rel=1e-3)
