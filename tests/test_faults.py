"""A misbehaving engine never yields a ranked result: the client cuts stalls and broken streams, and a
real ``autotuner run`` records each fault mode ``failed`` with its reason, within its deadline."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autotuner.bench.client import make_session, send, stall_limit
from autotuner.deploy.local import is_healthy

from .fault_engine import FAULTS
from .fault_runs import EXPECTED, run_fault

ENGINE = Path(__file__).resolve().parent / "fault_engine.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """The fault engine as a subprocess on a free port, ready (or not, for never_ready) on entry."""

    def __init__(self, fault: str, after: int = 0):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(ENGINE), "--fault", fault, "--after", str(after),
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Engine":
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the fault engine did not start listening")

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def one_request(engine: Engine, stall: float, timeout: float = 30.0):
    async def main():
        token = stall_limit.set(stall)
        try:
            async with make_session() as session:
                return await send(session, engine.base_url, "m", "a b c", 12, timeout=timeout)
        finally:
            stall_limit.reset(token)

    t0 = time.monotonic()
    record = asyncio.run(main())
    return record, time.monotonic() - t0


def test_every_fault_has_an_expected_verdict():
    assert set(EXPECTED) == set(FAULTS)


def test_a_stream_that_stops_sending_tokens_is_cut_after_the_stall_limit():
    with Engine("stall") as engine:
        record, seconds = one_request(engine, stall=0.5)
    assert record.error == "stalled: no token for 0.5 s"
    assert len(record.token_times) == 3  # the tokens before the stall are kept in the record
    assert 0.5 <= seconds < 3.0


def test_a_healthy_stream_slower_in_total_than_the_stall_limit_is_not_cut():
    with Engine("healthy") as engine:
        record, _ = one_request(engine, stall=0.05)  # 12 tokens 2 ms apart: quiet gaps stay far below 50 ms
    assert record.ok, record.error
    assert len(record.token_times) == 12


def test_a_malformed_event_fails_the_request():
    with Engine("malformed") as engine:
        record, _ = one_request(engine, stall=5)
    assert record.error is not None and record.error.startswith("malformed event in the stream")


@pytest.mark.parametrize("lines, broken", [
    (b'data: {"choices": []}\n\n', False), (b'data: {"choices": []}\r\n\r\n', False),
    (b"data: [DONE]\n\n", False), (b"data:\n", False), (b": keep-alive comment\n", False),
    (b'data: {"choices": [{"delta": {"content": "x"\n\n', True), (b"data: not json\r\n", True),
    (b'data: {"a": 1}\n\ndata: {"a": \n\ndata: [DONE]\n\n', True),
])
def test_malformed_lines_are_told_from_well_formed_ones(lines, broken):
    from autotuner.bench.client import _malformed
    assert (_malformed(lines) is not None) == broken


def test_a_hang_before_the_response_is_bounded_by_the_request_timeout_not_the_stall_limit():
    with Engine("hang") as engine:
        record, seconds = one_request(engine, stall=0.2, timeout=1.0)
    assert record.error == "timeout after 1s"
    assert seconds >= 0.9


def test_never_ready_never_answers_health():
    with Engine("never_ready") as engine:
        assert not is_healthy("127.0.0.1", engine.port, "/health")


def workload(**kw):
    from autotuner.spec.workload import Workload
    return Workload(**{"scenarios": ["D(8,8)"], "concurrency": [2, 4, 8], "num_requests": 10, **kw})


def test_the_experiment_clock_leaves_the_teardown_its_reserve_and_cuts_the_startup():
    from autotuner.search.deadlines import ExperimentClock
    clock = ExperimentClock(start=time.monotonic(), total=20.0)
    assert clock.teardown_reserve == 2.0 and clock.benchmark_end == clock.start + 18.0
    assert clock.startup_timeout(900) <= 18.0  # timeouts.startup cannot outlast the experiment
    assert clock.startup_timeout(5) == 5
    assert ExperimentClock(0.0, 3600).teardown_reserve == 5.0


def test_each_level_gets_its_share_of_the_time_left_with_slack():
    from autotuner.search.deadlines import LevelDeadlines
    levels = LevelDeadlines(workload(), end=90.0, stall=3)
    levels.begin_next(now=0.0)  # 3 equal levels, 90 s: 2 x 30 s
    assert levels.level_end == 60.0 and not levels.expired(59.9) and levels.expired(60.0)
    assert levels.describe() == "level 1 of 3 (D(8,8) c=2) did not finish within its deadline of 60.0 s"
    levels.begin_next(now=10.0)  # a fast first level leaves more to the others: 2 x 80 / 2, up to the end
    assert levels.level_end == 90.0
    assert "c=4) did not finish before the experiment's deadline" in levels.describe()


def test_a_duration_bound_level_gets_at_least_its_duration():
    from autotuner.search.deadlines import LevelDeadlines
    levels = LevelDeadlines(workload(num_requests=None, duration=50.0), end=100.0, stall=3)
    levels.begin_next(now=0.0)
    assert levels.level_end == 2 * 100 / 3 and levels.budget == pytest.approx(66.67, abs=0.01)
    levels = LevelDeadlines(workload(num_requests=None, duration=80.0), end=100.0, stall=3)
    levels.begin_next(now=0.0)
    assert levels.level_end == 83.0


def test_a_stop_near_its_deadline_shortens_the_sigterm_grace(tmp_path):
    from autotuner.deploy.local import MIN_GRACE, LocalDeployment
    d = LocalDeployment.__new__(LocalDeployment)
    d.grace, d.stop_deadline = 10.0, None
    assert d.grace_left() == 10.0
    d.stop_deadline = time.monotonic() + 3.0
    assert 2.5 < d.grace_left() <= 3.0
    d.stop_deadline = time.monotonic() - 5.0
    assert d.grace_left() == MIN_GRACE


# -- a real `autotuner run` against each fault mode ----------------------------------------------------
EXPERIMENT, STALL = 12.0, 1.0  # seconds: short, so that a hung engine costs little
CONTROL_EXPERIMENT = 60.0  # the healthy control must never hit its deadline, however busy the machine


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory) -> dict:
    """Every mode's run, four at a time: most of a faulty run is waiting for its deadline."""
    root = tmp_path_factory.mktemp("faults")

    def one(mode: str):
        if mode == "healthy":
            return run_fault(mode, root / mode, experiment=CONTROL_EXPERIMENT, stall=STALL, startup=30)
        return run_fault(mode, root / mode, experiment=EXPERIMENT, stall=STALL, startup=EXPERIMENT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(EXPECTED, pool.map(one, EXPECTED)))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [m for m in EXPECTED if m != "healthy"])
def test_autotuner_run_records_each_fault_failed_with_its_reason_and_never_ranks_it(fault_runs, mode):
    run = fault_runs[mode]
    status, reason = EXPECTED[mode]
    assert (run.status, run.reason) == (status, reason), run.error or run.output
    assert not run.ranked and "every experiment failed" in run.output and reason in run.output  # the cause named
    assert run.experiment_wall <= EXPERIMENT + 5.0  # the deadline holds, teardown included (+ SIGKILL's wait)
    assert run.leftovers == []
    assert "Traceback" not in run.output  # a failed experiment is a result, not a crash of the tuner


@pytest.mark.slow
def test_autotuner_run_ranks_the_healthy_control(fault_runs):
    run = fault_runs["healthy"]
    assert run.status == "succeeded" and run.ranked, run.output
    assert run.leftovers == []
