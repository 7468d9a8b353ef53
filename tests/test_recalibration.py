"""Recalibration: a truth twin with framework costs the prior lacks; five real experiments correct the prior."""

from __future__ import annotations

import math

import pytest

from autotuner.deploy.gpu_pool import GpuPool
from autotuner.engines import get_adapter
from autotuner.report.results import build_results
from autotuner.search.recalibrate import (REPORTED, Recalibration, fit_correction, fit_metric, median_errors)
from autotuner.search.runners import VirtualRunner
from autotuner.service.session import RunOptions, prepare_task
from autotuner.search.tuner import Tuner
from autotuner.search.warm_start import predict
from autotuner.sim.config import parse_engine_args
from autotuner.spec import task_from_dict
from autotuner.store import Store, params_key

# The truth: the same engine with a scheduler/launch cost per step and a tokenize/HTTP cost per
# request that the prior (the plain twin) does not know.
TRUTH = {"gpu": "h100", "seed": 0, "noise": 0.0, "overhead_step_ms": 4.0, "overhead_request_ms": 25.0}
TASK = {
    "name": "recalibrate", "model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "sglang", "gpus": 2,
    "search": {"strategy": "random", "max_experiments": 5, "seed": 0, "prior": "simulate", "baseline": False,
               "prune": False,
               "space": {"max-running-requests": [4, 8, 16, 32, 64], "chunked-prefill-size": [256, 512, 2048, 8192],
                         "tp-size": [1, 2]}},
    "objective": {"maximize": "output_throughput"},
    "slo": {"ttft_p90": 2.0},
    "workload": {"scenarios": ["D(512,96)"], "concurrency": [16], "num_requests": 32, "warmup_requests": 0},
    "simulate": {"gpu": "h100", "virtual_time": True},
}


def test_the_sim_takes_framework_overheads_as_flags():
    cfg = parse_engine_args(["--model-path", "m", "--overhead-step-ms", "2.5", "--overhead-request-ms", "10"])
    assert cfg.overhead_step_s == pytest.approx(0.0025) and cfg.overhead_request_s == pytest.approx(0.01)
    from autotuner.sim.errors import SimConfigError
    with pytest.raises(SimConfigError, match="--overhead-step-ms"):
        parse_engine_args(["--model-path", "m", "--overhead-step-ms", "-1"])


def test_fit_recovers_a_power_law_and_shrugs_off_an_outlier():
    pairs = [(p, 3.0 * p ** 0.8) for p in (0.01, 0.02, 0.05, 0.1, 0.3)]
    fit = fit_metric(pairs + [(0.04, 10.0)])  # one broken measurement
    assert fit.exponent == pytest.approx(0.8, rel=0.05) and fit.scale == pytest.approx(3.0, rel=0.2)
    single = fit_metric([(2.0, 3.0)])
    assert single.exponent == 1.0 and single.apply(4.0) == pytest.approx(6.0)
    assert fit_metric([]).apply(5.0) == 5.0
    assert fit_metric([(0.0, 1.0), (float("nan"), 1.0)]).points == 0


def test_correction_applies_per_metric_and_keys_by_engine_gpu_model():
    cal = Recalibration()
    for p in (1.0, 2.0, 4.0):
        cal.observe("sglang", "h100", "m", {"ttft_p90": p, "output_throughput": 100 * p},
                    {"ttft_p90": 2 * p, "output_throughput": 50 * p})
    got = cal.correction("sglang", "h100", "m").apply({"ttft_p90": 3.0, "output_throughput": 300.0, "other": 7})
    assert got["ttft_p90"] == pytest.approx(6.0) and got["output_throughput"] == pytest.approx(150.0)
    assert got["other"] == 7
    assert cal.correction("vllm", "h100", "m").apply({"ttft_p90": 3.0}) == {"ttft_p90": 3.0}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    task = task_from_dict(TASK)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('recal') / 'db.sqlite'}")
    task_id = store.create_task(task.name, task.model_dump(mode="json"), status="running").id
    truth = VirtualRunner(task, get_adapter(task.engine), TRUTH, seed=task.search.seed)
    tuner = Tuner(task, store, task_id, truth, GpuPool([0, 1]))
    tuner.run()
    return task, store, task_id, tuner


def test_five_real_experiments_halve_the_priors_error_on_the_rest(tuned):
    task, store, task_id, tuner = tuned
    measured = [e for e in store.experiments(task_id) if e.status in ("succeeded", "infeasible")]
    assert len(measured) == 5
    rest = [p.params for k, p in tuner.predictions.items()
            if k not in {e.params_key for e in measured} and not p.failed]
    assert len(rest) >= 20
    truth = predict(task, rest, TRUTH)  # what the truth twin measures on the configurations never run
    corrected = tuner.recalibration.prior
    raw_pairs = [(tuner.predictions[params_key(p)].metrics, truth[params_key(p)].metrics) for p in rest
                 if not truth[params_key(p)].failed]
    fixed_pairs = [(corrected[params_key(p)].metrics, truth[params_key(p)].metrics) for p in rest
                   if not truth[params_key(p)].failed]
    before, after = median_errors(raw_pairs), median_errors(fixed_pairs)
    print("median |error| before", before, "after", after)
    assert before["all"] > 0.05  # the overheads really make the plain twin wrong
    assert after["all"] <= 0.5 * before["all"]
    for metric in REPORTED:
        assert after[metric] < before[metric]


def test_results_json_reports_the_error_before_and_after(tuned):
    task, store, task_id, tuner = tuned
    block = build_results(store, task_id)["recalibration"]
    assert block["experiments"] == 5 and (block["engine"], block["gpu"]) == ("sglang", "h100")
    assert set(block["correction"]) <= set(REPORTED) and block["correction"]
    before, after = block["median_abs_error_before"], block["median_abs_error_after"]
    assert after["all"] < before["all"]
    for e in store.experiments(task_id):  # each measurement keeps the twin's raw prediction beside it
        assert e.predicted.get("metrics") and math.isfinite(e.predicted["metrics"]["ttft_p90"])


def test_no_block_without_a_prior(tmp_path):
    spec = {**TASK, "search": {**TASK["search"], "prior": "none", "max_experiments": 2}}
    task = task_from_dict(spec)
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    task_id = store.create_task(task.name, task.model_dump(mode="json"), status="running").id
    Tuner(task, store, task_id, VirtualRunner(task, get_adapter(task.engine), TRUTH), GpuPool([0, 1])).run()
    assert "recalibration" not in build_results(store, task_id)
    assert fit_correction([]).apply({"ttft_p90": 1.0}) == {"ttft_p90": 1.0}
