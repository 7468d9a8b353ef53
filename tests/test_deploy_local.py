"""LocalDeployer against fake engines: start, readiness, failure classes, teardown of the whole group."""

import re
import sys
import threading
import time
from pathlib import Path

import pytest

from autotuner.deploy.base import DeploymentError, LaunchSpec
from autotuner.deploy.local import LocalDeployer
from .process_probes import gone, http_status

FAKE = Path(__file__).parent / "fake_engines"


def spec(script: str, *extra: str) -> LaunchSpec:
    return LaunchSpec(engine="sim", argv=[sys.executable, str(FAKE / script), *extra], model_name="served-m")


def make(tmp_path: Path, grace: float = 2.0) -> LocalDeployer:
    return LocalDeployer(tmp_path / "logs", tmp_path / "state", grace=grace)




def logged(path: Path, key: str) -> str:
    match = re.search(rf"fake engine:.*\b{key}=(\S*)", path.read_text())
    assert match, f"{key} not in the log:\n{path.read_text()}"
    return match.group(1)




def records(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "state" / "engines").glob("*.json"))


def test_healthy_engine_serves_and_stops_without_leftovers(tmp_path):
    deployment = make(tmp_path).deploy(spec("healthy.py", "--model-path", "M"), "exp1", [1, 3], startup_timeout=20)
    with deployment as d:
        assert d.endpoint.model_name == "served-m"
        assert d.endpoint.base_url.startswith("http://127.0.0.1:")
        assert http_status(d.endpoint.base_url, "/health") == 200
        assert d.log_path == tmp_path / "logs" / "exp1.log"
        assert logged(d.log_path, "CUDA_VISIBLE_DEVICES") == "1,3"
        assert int(logged(d.log_path, "pgid")) == d.pid  # the engine leads its own group
        assert d.gpus == [1, 3]
        assert [p.name for p in records(tmp_path)] == ["exp1.json"]
        assert "fake engine: listening" in d.log_tail(5)
    assert gone(d.pid)
    assert records(tmp_path) == []
    d.stop()  # idempotent


def test_stop_ends_the_whole_process_group(tmp_path):
    with make(tmp_path).deploy(spec("spawns_child.py"), "exp-child", [0], startup_timeout=20) as d:
        child = int(logged(d.log_path, "child"))
        assert not gone(child)
    assert gone(d.pid) and gone(child)


def test_an_exception_in_the_with_block_stops_the_engine(tmp_path):
    with pytest.raises(RuntimeError):
        with make(tmp_path).deploy(spec("healthy.py"), "exp-raise", [], startup_timeout=20) as d:
            raise RuntimeError("benchmark failed")
    assert gone(d.pid)
    assert logged(d.log_path, "CUDA_VISIBLE_DEVICES") == ""


def test_crash_at_start_fails_fast_with_the_log_lines(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DeploymentError) as err:
        make(tmp_path).deploy(spec("crashes.py"), "exp-crash", [0], startup_timeout=60)
    assert time.monotonic() - t0 < 10  # the exit is noticed, not the 60 s timeout
    e = err.value
    assert e.reason == "crash"
    assert "exited with code 3" in e.message
    assert "does not divide" in e.message  # the last log line
    assert "ValueError" in e.log_tail and "parsing arguments" in e.log_tail
    assert str(e).startswith("crash: the engine exited with code 3")
    assert e.log_path == tmp_path / "logs" / "exp-crash.log" and e.log_path.exists()
    assert records(tmp_path) == []
    assert gone(int(logged(e.log_path, "pid")))


def test_out_of_memory_at_start_is_classified_oom(tmp_path):
    with pytest.raises(DeploymentError) as err:
        make(tmp_path).deploy(spec("oom.py"), "exp-oom", [0, 1], startup_timeout=60)
    assert err.value.reason == "oom"
    assert "out of memory" in err.value.message
    assert "CUDA out of memory" in err.value.log_tail


def test_engine_that_never_gets_healthy_times_out_and_is_removed(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DeploymentError) as err:
        make(tmp_path).deploy(spec("hangs.py"), "exp-hang", [0], startup_timeout=1.5)
    assert time.monotonic() - t0 >= 1.5
    assert err.value.reason == "timeout"
    assert "1.5 s" in err.value.message
    pid = int(logged(tmp_path / "logs" / "exp-hang.log", "pid"))
    assert gone(pid)
    assert records(tmp_path) == []


def test_cancel_while_starting(tmp_path):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(DeploymentError) as err:
        make(tmp_path).deploy(spec("hangs.py"), "exp-cancel", [0], startup_timeout=60, cancel=cancel)
    assert err.value.reason == "cancelled"
    assert time.monotonic() - t0 < 10
    assert gone(int(logged(tmp_path / "logs" / "exp-cancel.log", "pid")))


def test_engine_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    d = make(tmp_path, grace=0.5).deploy(spec("ignores_sigterm.py"), "exp-stubborn", [0], startup_timeout=20)
    t0 = time.monotonic()
    d.stop()
    assert time.monotonic() - t0 >= 0.5
    assert d.proc.returncode == -9  # SIGKILL, not its own exit
    assert gone(d.pid)


def test_port_taken_before_the_engine_binds_is_retried_once(tmp_path):
    marker = tmp_path / "failed-once"
    with make(tmp_path).deploy(spec("healthy.py", "--fail-port-once", str(marker)), "exp-port", [0],
                               startup_timeout=20) as d:
        assert http_status(d.endpoint.base_url, "/health") == 200
        text = d.log_path.read_text()
    assert "retrying on another port" in text
    ports = re.findall(r"fake engine: port=(\d+)", text)
    assert len(ports) == 2 and ports[0] != ports[1]
    assert ports[1] == d.endpoint.base_url.rsplit(":", 1)[1]


def test_missing_executable_is_unavailable(tmp_path):
    bad = LaunchSpec(engine="sglang", argv=[str(tmp_path / "no-such-engine")], model_name="m")
    with pytest.raises(DeploymentError) as err:
        make(tmp_path).deploy(bad, "exp-missing", [0], startup_timeout=5)
    assert err.value.reason == "unavailable"
    assert "no-such-engine" in err.value.message


def test_bad_arguments_are_rejected(tmp_path):
    deployer = make(tmp_path)
    with pytest.raises(ValueError, match="startup_timeout"):
        deployer.deploy(spec("healthy.py"), "x", [0], startup_timeout=0)
    with pytest.raises(ValueError, match="argv"):
        deployer.deploy(LaunchSpec(engine="sim", argv=[], model_name="m"), "x", [0], startup_timeout=5)
    with pytest.raises(ValueError, match="grace"):
        LocalDeployer(tmp_path / "l", tmp_path / "s", grace=-1)


def test_secret_flag_values_stay_out_of_the_log_header_and_record(tmp_path):
    s = spec("healthy.py", "--api-key", "sk-very-secret", "--hf-token=hf_abc")
    with make(tmp_path).deploy(s, "exp-secret", [0], startup_timeout=20) as d:
        stored = records(tmp_path)[0].read_text()
        header = d.log_path.read_text().splitlines()[0]
    for text in (stored, header):
        assert "sk-very-secret" not in text and "hf_abc" not in text
        assert "--api-key" in text
