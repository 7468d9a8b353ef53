"""A measurement is ranked only when it is whole: the engine lived, requests succeeded, the deadline held."""

import sys
import threading
import time
from pathlib import Path

import pytest

from autotuner.deploy.local import LocalDeployer
from autotuner.engines.launch import LaunchSpec
from autotuner.search.runners import DeployedRunner
from autotuner.search.verdict import DEADLINE, ENGINE_DIED, ERRORS, measurement_problem
from autotuner.spec import task_from_dict

ROOT = Path(__file__).resolve().parent.parent


def lv(rate: float, errors=()):
    return {"scenario": "D(8,4)", "concurrency": 4, "rate": None, "metrics": {"success_rate": rate},
            "errors": list(errors)}


def test_whole_measurement_passes():
    assert measurement_problem([lv(1.0), lv(0.995)], 0.99) is None


def test_a_level_below_the_success_rate_is_errors():
    p = measurement_problem([lv(1.0), lv(0.5, ["HTTP 500: injected failure"])], 0.99)
    assert p.reason == ERRORS and "50.0%" in p.message and "HTTP 500" in p.message and "c=4" in p.message


def test_engine_death_wins_over_everything_and_deadline_over_errors():
    assert measurement_problem([lv(0.1)], 0.99, engine_alive=False, deadline_hit=True).reason == ENGINE_DIED
    assert measurement_problem([lv(0.1)], 0.99, deadline_hit=True).reason == DEADLINE
    assert measurement_problem([lv(0.5)], 0.4) is None  # the threshold is the task's


class FaultAdapter:
    """The fake OpenAI server as the 'engine', with fault options as its flags."""

    def __init__(self, **faults):
        self.faults = faults

    def launch_spec(self, model_id, model_name, config, simulate):
        argv = [sys.executable, "-m", "tests.fake_openai_server", "--ttft", "0.01", "--itl", "0.005"]
        for k, v in self.faults.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        return LaunchSpec(engine="fake", argv=argv, model_name="m")


def task(experiment_timeout=60.0):
    return task_from_dict({
        "name": "faults", "model": "m", "engine": "sglang",
        "search": {"space": {"max-running-requests": [8]}},
        "objective": {"maximize": "output_throughput"},
        "workload": {"scenarios": ["D(8,4)"], "concurrency": [2, 4], "num_requests": 10, "warmup_requests": 0},
        "timeouts": {"startup": 30, "experiment": experiment_timeout},
    })


def run(tmp_path, adapter, t):
    import os
    os.chdir(ROOT)  # "-m tests.fake_openai_server" from the project root
    deployer = LocalDeployer(log_dir=tmp_path / "logs", state_dir=tmp_path / "state", grace=1.0)
    runner = DeployedRunner(t, adapter, deployer)
    t0 = time.monotonic()
    out = runner.run({}, [0], "faults-exp1", lambda ph: None, lambda level: True, threading.Event())
    return out, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.parametrize("faults, reason", [({"exit_after": 6}, ENGINE_DIED), ({"fail_every": 2}, ERRORS),
                                            ({"hang_after": 6}, DEADLINE)])
def test_faulty_engines_fail_with_the_reason(tmp_path, faults, reason):
    t = task(experiment_timeout=8.0)
    out, seconds = run(tmp_path, FaultAdapter(**faults), t)
    assert not out.ok and out.reason == reason, (out.reason, out.error)
    assert seconds < t.timeouts.experiment + 15
    if reason == ERRORS:
        assert out.levels  # the partial measurement is kept for the record


@pytest.mark.slow
def test_a_healthy_engine_succeeds(tmp_path):
    out, _ = run(tmp_path, FaultAdapter(), task())
    assert out.ok and len(out.levels) == 2
