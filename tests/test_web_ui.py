"""The web UI in a real headless Chromium (Debian's, driven by Playwright): create a task from the
form, watch it live, see the best and the charts; cancel a running task and see its engine gone.

Needs /usr/bin/chromium and the playwright package (scripts/install_chromium.sh); skipped otherwise.
Leaves screenshots in test-output/.
"""

import re
import time

import httpx
import pytest

from .api_fakes import wait_for
from .browser_support import OUT, browser  # noqa: F401 (browser: the fixture)
from .serve_support import ROOT, engine_processes, require_sim, serve

pytestmark = pytest.mark.slow

SPACE_YAML = "max-running-requests: [8, 32, 128]\nchunked-prefill-size: [2048, 8192]"



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_sim()
    tmp = tmp_path_factory.mktemp("ui")
    with serve(f"sqlite:///{tmp / 'db.sqlite'}", tmp, workers=2) as base:
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert errors == [], errors


def test_create_from_the_form_and_watch_it_live(page, server):
    OUT.mkdir(exist_ok=True)
    page.goto(f"{server}/tasks/new")
    page.wait_for_function("document.getElementById('yaml-state').textContent === 'valid'")
    # A task file imported fills the editor and the form.
    page.set_input_files("#import-file", str(ROOT / "examples" / "vllm-qwen3-8b-h100.yaml"))
    page.wait_for_function("document.getElementById('f-name').value === 'vllm-qwen3-8b-long'")
    assert page.input_value("#f-engine") == "vllm" and page.input_value("#f-concurrency") == "8, 32, 64"
    page.select_option("#f-engine", "sglang")
    # The form writes the YAML ...
    page.fill("#f-name", "ui-demo")
    page.select_option("#f-strategy", "grid")
    page.fill("#f-budget", "3")
    page.fill("#f-space", SPACE_YAML)
    page.fill("#f-scenarios", "D(64,16)")
    page.fill("#f-concurrency", "2")
    page.fill("#f-requests", "8")
    page.select_option("#f-simulate", "h100")
    page.wait_for_function("document.getElementById('yaml-editor').value.includes('name: ui-demo')")
    yaml_text = page.input_value("#yaml-editor")
    assert "strategy: grid" in yaml_text and "max-running-requests: [8, 32, 128]" in yaml_text
    assert "concurrency: [2]" in yaml_text and "gpu: h100" in yaml_text
    # ... and the YAML fills the form; problems show at their field.
    page.fill("#yaml-editor", yaml_text.replace("max_experiments: 3", "max_experiments: 0"))
    page.wait_for_selector(".field[data-loc='search.max_experiments'] .field-error")
    assert page.input_value("#f-budget") == "0"
    page.fill("#yaml-editor", yaml_text)
    page.wait_for_function("document.getElementById('yaml-state').textContent === 'valid'")
    assert page.locator(".field-error").count() == 0
    page.click("#create-start")
    page.wait_for_url(re.compile(r".*/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[-1])
    page.evaluate("window.__sameDocument = true")  # a reload would drop it

    # Experiments appear while it runs, without reloading the page.
    seen_rows = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        seen_rows.add(page.locator("#experiments tbody tr").count())
        if page.text_content("#task-status") in ("succeeded", "failed"):
            break
        time.sleep(0.25)
    assert page.text_content("#task-status") == "succeeded"
    page.wait_for_function("document.querySelectorAll('#experiments tbody tr').length >= 3")
    assert len(seen_rows - {0}) >= 2, seen_rows  # rows arrived one by one
    assert page.evaluate("window.__sameDocument") is True
    # The best configuration with a copy-ready command, and the three charts drawn.
    assert page.is_visible("#best")
    command = page.text_content("#best-command")
    assert command.startswith("python -m sglang.launch_server") and "--model-path" in command
    page.wait_for_function("document.querySelectorAll('#chart-objective .main-svg').length > 0")
    page.wait_for_function("document.querySelectorAll('#chart-latency .main-svg').length > 0")
    page.wait_for_function("document.querySelectorAll('#chart-parallel .main-svg').length > 0")
    assert "3 of 3" in page.text_content("#progress-text")
    # The table sorts by a metric on the server.
    page.click("#experiments th[data-sort='output_throughput']")
    page.wait_for_selector("#experiments th.sorted[data-sort='output_throughput']")
    time.sleep(1.5)  # let the last event-driven refresh settle before the picture
    page.screenshot(path=str(OUT / "task-detail.png"), full_page=True)

    results = httpx.get(f"{server}/api/tasks/{task_id}/results").json()
    assert results["best"]["command"] == command

    # The experiment page: per-level metrics and the engine log.
    page.click("#best-link")
    page.wait_for_selector("#levels tbody tr td")
    page.wait_for_function("document.getElementById('log-tail').textContent.length > 20")
    page.screenshot(path=str(OUT / "experiment-detail.png"), full_page=True)


def test_cancel_stops_the_running_engine(page, server):
    doc = {
        "name": "ui-cancel", "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "served_name": "ui-cancel-model"},
        "engine": "sglang",
        "search": {"strategy": "grid", "max_experiments": 4, "baseline": False,
                   "space": {"max-running-requests": [8, 16, 32, 64]}},
        "objective": {"maximize": "output_throughput"},
        # A long benchmark: the cancel lands while the engine serves it.
        "workload": {"scenarios": ["D(512,512)"], "concurrency": [1], "num_requests": 200},
        "simulate": {"gpu": "h100"},
    }
    task_id = httpx.post(f"{server}/api/tasks", json=doc).json()["id"]
    page.goto(f"{server}/tasks/{task_id}")
    page.wait_for_function("document.querySelector('#current .phase')?.textContent === 'benchmarking'",
                           timeout=120_000)
    assert engine_processes("ui-cancel-model"), "the simulated engine should be running"
    asked = time.monotonic()
    page.click("#btn-cancel")
    page.wait_for_function("document.getElementById('task-status').textContent === 'cancelled'", timeout=60_000)
    wait_for(lambda: not engine_processes("ui-cancel-model"), timeout=20)
    assert time.monotonic() - asked < 30
    assert page.is_visible("#btn-resume") and not page.is_visible("#btn-cancel")
    page.screenshot(path=str(OUT / "task-cancelled.png"), full_page=True)
