"""No orphan engines: a ``kill -9`` of the tuner takes its engine with it, within seconds, with no restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autotuner.deploy.launcher import parse
from autotuner.deploy.local import is_healthy, launcher_argv
from autotuner.deploy.processes import group_alive, pid_alive

from .test_deploy_signals import wait_for

ROOT = Path(__file__).resolve().parent.parent
FAKE_ENGINES = Path(__file__).resolve().parent / "fake_engines"

TASK = """\
name: orphans
model: meta-llama/Llama-3.2-1B-Instruct
engine: sglang
gpus: 1
search: {strategy: grid, max_experiments: 1, baseline: false, space: {max-running-requests: [8]}}
objective: {maximize: output_throughput}
workload: {scenarios: ["D(64,64)"], concurrency: [1], num_requests: 100000}
timeouts: {startup: 60, experiment: 600}
simulate: {gpu: h100, startup_seconds: 0.1}
"""


def engine_record(state: Path) -> dict | None:
    for path in (state / "engines").glob("*.json"):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written
    return None


def test_kill_9_of_the_tuner_takes_its_engine_down_within_5_s(tmp_path):
    (tmp_path / "task.yaml").write_text(TASK)
    state = tmp_path / "state"
    env = {**os.environ, "AUTOTUNER_STATE_DIR": str(state),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    tuner = subprocess.Popen([sys.executable, "-m", "autotuner", "run", "task.yaml", "--db", "db.sqlite",
                              "--out", "runs"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        record = wait_for(lambda: engine_record(state), 60, "the engine to start")
        port = int(record["argv"][record["argv"].index("--port") + 1])
        wait_for(lambda: is_healthy("127.0.0.1", port, "/health"), 30, "the engine to be ready")
        group = record["pgid"]
        assert group_alive(group)
        tuner.kill()  # SIGKILL: no atexit, no signal handler, nothing of the tuner runs
        tuner.wait()
        t0 = time.monotonic()
        wait_for(lambda: not group_alive(group), 5, "the engine to die with its tuner")
        print(f"engine group gone {time.monotonic() - t0:.2f} s after kill -9 of the tuner")
        assert not pid_alive(record["pid"])
    finally:
        if tuner.poll() is None:
            tuner.kill()
            tuner.wait()
        record = engine_record(state)
        if record is not None and group_alive(record["pgid"]):
            os.killpg(record["pgid"], signal.SIGKILL)


def launch(tmp_path: Path, *engine_args: str) -> tuple[subprocess.Popen, int]:
    read, write = os.pipe()
    proc = subprocess.Popen(launcher_argv(list(engine_args), read), pass_fds=(read,), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(read)
    return proc, write


def test_the_launcher_exits_as_its_engine_did(tmp_path):
    proc, write = launch(tmp_path, sys.executable, "-c", "import sys; sys.exit(7)")
    assert proc.wait(timeout=10) == 7
    os.close(write)
    proc, write = launch(tmp_path, sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert proc.wait(timeout=10) == -signal.SIGTERM
    os.close(write)


def test_the_launcher_passes_sigterm_to_the_engine_and_reports_a_missing_program(tmp_path):
    proc, write = launch(tmp_path, sys.executable, str(FAKE_ENGINES / "healthy.py"), "--port", "0")
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGTERM)  # what the deployer's stop sends: the engine ends, so does the launcher
    assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
    os.close(write)
    proc, write = launch(tmp_path, str(tmp_path / "no-such-engine"))
    assert proc.wait(timeout=10) == 127
    assert "cannot run" in proc.stderr.read()
    os.close(write)


def test_closing_the_watch_pipe_kills_the_whole_group(tmp_path):
    proc, write = launch(tmp_path, sys.executable, str(FAKE_ENGINES / "ignores_sigterm.py"), "--port", "0",
                         "--spawn-child")
    time.sleep(1.5)
    assert proc.poll() is None
    os.close(write)  # what the kernel does when the tuner dies
    assert proc.wait(timeout=5) == -signal.SIGKILL
    wait_for(lambda: not group_alive(proc.pid), 5, "the group to be gone")


def test_launcher_usage_errors_name_the_form():
    assert parse(["--watch", "5", "--", "engine", "--port", "1"]) == (5, ["engine", "--port", "1"])
    with pytest.raises(SystemExit, match="--watch FD -- ARGV"):
        parse(["engine"])
