"""Nothing outlives the tuner: Ctrl-C while starting or running, interpreter exit, and kill -9 + reaping."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autotuner.deploy.local import LocalDeployer
from autotuner.deploy.processes import group_alive, start_ticks
from autotuner.deploy.reaper import EngineRecord, EngineRecords
from .process_probes import gone

FAKE = Path(__file__).parent / "fake_engines"




def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Driver:
    """tests/fake_engines/driver.py in its own process, deploying ``engine``."""

    def __init__(self, tmp_path: Path, engine: str, timeout: float = 30, mode: str = "with"):
        self.state = tmp_path / "state"
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE / "driver.py"), str(FAKE / engine), str(tmp_path / "logs"),
             str(self.state), str(timeout), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ready_pid(self) -> int:
        for line in self.proc.stdout:
            if line.startswith("ready "):
                return int(line.split()[1])
        raise AssertionError(f"driver ended before the engine was ready: {self.proc.stderr.read()}")

    def recorded_pid(self) -> int:
        path = wait_for(lambda: next(iter((self.state / "engines").glob("*.json")), None), what="engine record")
        return wait_for(lambda: _pid_in(path), what="complete record")

    def records(self) -> list[Path]:
        return list((self.state / "engines").glob("*.json"))

    def finish(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def _pid_in(path: Path) -> int | None:
    try:
        return json.loads(path.read_text())["pid"]
    except (OSError, ValueError):
        return None


def test_ctrl_c_while_benchmarking_stops_the_engine(tmp_path):
    driver = Driver(tmp_path, "spawns_child.py")
    engine = driver.ready_pid()
    child = int(next(line for line in (tmp_path / "logs" / "driven.log").read_text().splitlines()
                     if "child=" in line).split("child=")[1])
    assert not gone(engine) and not gone(child)
    driver.proc.send_signal(signal.SIGINT)
    assert driver.finish() != 0
    assert gone(engine) and gone(child)
    assert driver.records() == []


def test_ctrl_c_while_waiting_for_readiness_stops_the_engine(tmp_path):
    driver = Driver(tmp_path, "hangs.py", timeout=120)
    engine = driver.recorded_pid()
    wait_for(lambda: "listening" in (tmp_path / "logs" / "driven.log").read_text(), what="the engine to run")
    driver.proc.send_signal(signal.SIGINT)
    assert driver.finish() != 0
    assert gone(engine)
    assert driver.records() == []


def test_interpreter_exit_stops_engines_left_running(tmp_path):
    driver = Driver(tmp_path, "healthy.py", mode="exit")
    engine = driver.ready_pid()
    assert driver.finish() == 0
    assert gone(engine)
    assert driver.records() == []


def test_engines_of_a_killed_tuner_are_reaped_by_the_next_one(tmp_path):
    driver = Driver(tmp_path, "spawns_child.py")
    engine = driver.ready_pid()  # the engine's launcher, leader of its group
    os.kill(engine, signal.SIGKILL)  # without its launcher the engine cannot die with the tuner...
    driver.proc.kill()  # ...and no cleanup can run
    driver.finish()
    assert group_alive(engine)  # orphaned, still serving: the reaper is the second line
    reaped = LocalDeployer(tmp_path / "logs2", tmp_path / "state", grace=1.0).reap_leftovers()
    assert len(reaped) == 1 and reaped[0].startswith(f"driven (pid {engine}")
    wait_for(lambda: not group_alive(engine), timeout=5, what="the engine to die")
    assert driver.records() == []
    assert LocalDeployer(tmp_path / "logs2", tmp_path / "state").reap_leftovers() == []


def test_reaper_leaves_engines_of_a_live_tuner_alone(tmp_path):
    driver = Driver(tmp_path, "healthy.py")
    try:
        engine = driver.ready_pid()
        assert LocalDeployer(tmp_path / "logs2", tmp_path / "state").reap_leftovers() == []
        assert not gone(engine) and len(driver.records()) == 1
    finally:
        driver.proc.send_signal(signal.SIGINT)
        driver.finish()
    assert gone(engine)


def test_reaper_does_not_kill_a_process_that_reused_the_pid(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        records = EngineRecords(tmp_path / "state")
        dead_owner = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                    capture_output=True, text=True).stdout.strip()
        record = EngineRecord(name="old", pid=stranger.pid, pgid=stranger.pid, argv=["engine"], started_at=0,
                              start_ticks=start_ticks(stranger.pid) - 1, owner_pid=int(dead_owner),
                              owner_start_ticks=None)
        path = records.write(record)
        assert LocalDeployer(tmp_path / "logs", tmp_path / "state").reap_leftovers() == []
        assert stranger.poll() is None
        assert not path.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_unreadable_records_are_removed(tmp_path):
    records = EngineRecords(tmp_path / "state")
    (records.dir / "broken.json").write_text("{not json")
    assert LocalDeployer(tmp_path / "logs", tmp_path / "state").reap_leftovers() == []
    assert list(records.dir.iterdir()) == []
