"""The tuning loop: ask Optuna for a configuration, run it, score it, tell Optuna; resume-safe.

Budget counts experiments that used (or would have used) GPUs. Configurations already measured
are not run again: Optuna is told the recorded outcome. SLO misses and failed deployments reach
the sampler as constraint violations (``trial.set_constraint``), never as a made-up score.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import optuna
from optuna.trial import TrialState

from ..deploy.gpu_pool import GpuPool
from ..spec.task import Task
from ..store import ExperimentRow, Store, params_key
from ..store.models import ACTIVE, FINISHED, utcnow
from .baseline import Baseline
from .confirm import confirm_full, confirm_real_weights, confirm_top
from .fast_start import fixed_simulation as fast_start_fixed, parallel_slots, plan as fast_start_plan
from .experiment import EventSink, Events, Executed, ExperimentExecutor
from .feasibility import known_constraint_violation
from .leases import LeaseKeeper, default_worker_name
from .runners import ExperimentRunner
from .scoring import better, failure_values, objective_values
from .space import SpaceCodec, grid_size
from .study import open_study
from .recalibrate import Recalibration, after_experiment
from .warm_start import candidate_configurations, predict, prior_count, top_candidates, warm_start_from_task

__all__ = ["EventSink", "TaskCancelled", "Tuner", "MODES"]
_MAX_DUPLICATE_STREAK = 200
WAIT = "wait"  # _next: the budget is all taken, but other tuners' experiments may still give some back
MODES = ("alone", "owner", "helper")


class TaskCancelled(Exception):
    pass


class Tuner:
    """``mode``: ``alone`` (the only tuner: whatever was left running is taken back at start),
    ``owner`` (the worker holding the task's lease: runs baseline and confirmation, ends the task) or
    ``helper`` (another worker lending a hand: runs search experiments while budget is left)."""

    def __init__(self, task: Task, store: Store, task_id: int, runner: ExperimentRunner,
                 pool: GpuPool, on_event: EventSink | None = None, cancel: threading.Event | None = None,
                 mode: str = "alone", worker: str | None = None, lease_seconds: float = 30.0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
        self.task, self.store, self.task_id, self.runner, self.pool = task, store, task_id, runner, pool
        self.mode, self.worker = mode, worker or default_worker_name()
        # Nobody else sees an in-memory database: its leases never need renewing.
        self.lease_seconds = 1e9 if store.in_memory else lease_seconds
        self.leases = LeaseKeeper(store, task_id, self.worker, self.lease_seconds)
        self.cancel = cancel or threading.Event()
        self.events = Events(store, task_id, on_event)
        self.executor = ExperimentExecutor(task, store, task_id, runner, pool, self.events, self.cancel, self.worker)
        self.codec = SpaceCodec(task.search.space)
        self.dists = self.codec.distributions
        self.space_size = grid_size(task.search.space)
        self._lock = threading.RLock()
        self._dup_streak = 0
        self._seen_keys: set[str] = set()
        self._errors: list[BaseException] = []
        self.predictions: dict = {}
        self.recalibration: Recalibration | None = None
        self.baseline = Baseline(task, self.codec, store, task_id, self.executor, self.leases)
        self.prior: Callable[[], dict] = self._predict  # the twin's ranking; replaceable (benchmarks)
        self.study = open_study(task, task_id, store)
        self.simulate = getattr(runner, "simulate", None)  # the simulated engine's settings, None on real engines

    # -- setup -------------------------------------------------------------------------------
    def _recover(self) -> None:
        """After a crash or kill: unfinished experiments are marked and their configurations re-queued."""
        if self.mode == "helper":  # the owner recovers; expired leases are taken back in the loop
            return
        for exp in self.store.experiments(self.task_id):
            left_running = exp.status in ACTIVE and (self.mode == "alone" or exp.lease_until is None)
            if left_running or (exp.status == "interrupted" and not exp.extra.get("requeued")):
                self.store.update_experiment(exp.id, status="interrupted", finished_at=utcnow(),
                                             error=exp.error or "the tuner stopped before this experiment finished",
                                             extra={**exp.extra, "requeued": True})
                if exp.trial_number is not None:
                    self.study.enqueue_trial(self.codec.encode(exp.params), skip_if_exists=False)
            elif exp.baseline and exp.status in FINISHED and self.baseline.defaults is not None:
                self._seen_keys.add(params_key(self.baseline.defaults))
            elif exp.status in FINISHED and not exp.baseline:
                self._seen_keys.add(exp.params_key)
                if exp.status == "succeeded" and better(self.task, exp.score, self.executor.best_score):
                    self.executor.best_score = exp.score
        if self.mode == "alone":
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                self.study.tell(t.number, state=TrialState.FAIL)

    def _warm_start(self) -> None:
        """Before the first trial: an earlier task's results, then the twin's best candidates."""
        search = self.task.search
        if self.study.get_trials(deepcopy=False) or self.mode == "helper":
            if search.prior == "simulate":  # resumed: predictions are recomputed for the report
                self.predictions = self.prior()
            return
        if search.warm_start:
            n = warm_start_from_task(self.study, self.store, self.task, search.warm_start, self.codec)
            self.events.emit("warm_start", None, source=search.warm_start, trials=n)
        if search.prior == "simulate":
            self.predictions = self.prior()
            top = top_candidates(self.task, self.predictions, prior_count(self.task))
            for cand in top:
                self.study.enqueue_trial(self.codec.encode(cand.params), skip_if_exists=True)
            self.events.emit("prior", None, evaluated=len(self.predictions), enqueued=[c.params for c in top])

    def _predict(self) -> dict:
        simulate = {**(self.task.simulate.model_dump() if self.task.simulate else {"gpu": "h100"}),
                    "seed": self.task.search.seed, "noise": 0.0}
        return predict(self.task, candidate_configurations(self.task), simulate)

    # -- public ------------------------------------------------------------------------------
    def run(self) -> None:
        self.leases.start()
        try:
            self._run_all()
        finally:
            self.leases.stop()

    def _run_all(self) -> None:
        self._recover()
        start = fast_start_plan(self.task, self.simulate)  # FastStartError (before anything deploys) for an impossible "on"
        if self.mode != "helper":
            self.events.emit("fast_start", None, dummy_weights=start.dummy_weights, reason=start.reason,
                             cache_dir=start.cache_dir, caveats=start.caveats,
                             fixed_simulation=fast_start_fixed(self.simulate),
                             parallel=parallel_slots(self.task, len(self.pool.ids), self.simulate))
        self._warm_start()
        if self.mode != "helper":
            self._run_baseline(wait=False)
        workers = [threading.Thread(target=self._worker, name=f"tuner-{i}", daemon=True)
                   for i in range(parallel_slots(self.task, len(self.pool.ids), self.simulate))]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except BaseException:
            self.cancel.set()
            for w in workers:
                w.join()
            raise
        if self._errors:
            raise self._errors[0]
        if self.mode != "helper" and not self.executor.cancelled():
            # Lapsed after the budget was spent: not run again, but not left "running" either.
            self.leases.take_back_expired(self.study, self.executor.take_back)
            self._run_baseline(wait=True)  # its first run was lost with a dead worker
            confirm_top(self.task, self.store, self.task_id, self.executor)
            confirm_full(self.task, self.store, self.task_id, self.executor)  # the best, if early stopping skipped levels
            confirm_real_weights(self.task, self.store, self.task_id, self.executor)  # measured on random weights
        if self.cancel.is_set():
            raise TaskCancelled()

    def _run_baseline(self, wait: bool) -> None:
        told = self.baseline.run(self.study, wait)
        if told is not None:
            self._seen_keys.add(told)

    # -- the loop ----------------------------------------------------------------------------
    def _next(self) -> tuple[optuna.Trial, dict, ExperimentRow] | str | None:
        """Under the lock: the next configuration to run; WAIT while other experiments hold the rest of
        the budget; None when the budget or the space is spent. The database arbitrates between tuners."""
        budget = self.task.search.max_experiments
        while True:
            if self.executor.cancelled():
                return None
            self.leases.take_back_expired(self.study, self.executor.take_back, requeue=self._requeue)
            finished, active = self.store.budget_state(self.task_id)
            if finished >= budget:
                return None
            if finished + active >= budget:
                return WAIT
            if len(self._seen_keys) >= self.space_size or self._dup_streak > _MAX_DUPLICATE_STREAK:
                return WAIT if active else None
            trial = self.study.ask(self.dists)
            params = self.codec.decode(trial.params)
            baseline = self.baseline.equivalent(params)
            if baseline is not None:  # the engine's defaults: measured already, as the baseline
                self._dup_streak += 1
                self._tell_recorded(trial, baseline)
                continue
            pred = self.predictions.get(params_key(params))
            predicted = {} if pred is None else {"metrics": pred.metrics, "feasible": pred.feasible,
                                                 "failed": pred.failed}
            got = self.store.reserve_experiment(self.task_id, params, trial.number, self.worker, self.lease_seconds,
                                                budget, status="pending", predicted=predicted)
            if got.row is None:
                if got.recorded is not None:
                    self._tell_recorded(trial, got.recorded)
                else:  # the same configuration runs in another tuner, or the budget went meanwhile
                    self.study.tell(trial, state=TrialState.FAIL)
                if not got.budget_spent:
                    self._dup_streak += 1
                    self._seen_keys.add(params_key(params))
                continue
            exp = got.row
            self._dup_streak = 0
            self._seen_keys.add(exp.params_key)
            reason = known_constraint_violation(self.task, params, len(self.pool.ids))
            if reason:
                self.executor.reject(exp, params, reason)
                self._tell(trial, failure_values(self.task), self._constraints(None, known=1.0))
                continue
            self.leases.hold(exp.id)
            return trial, params, exp

    def _requeue(self, params: dict) -> None:
        self._seen_keys.discard(params_key(params))
        self.study.enqueue_trial(self.codec.encode(params), skip_if_exists=False)

    def _worker(self) -> None:
        try:
            self._worker_loop()
        except BaseException as e:  # surface it in run(); stop the other workers
            self._errors.append(e)
            self.cancel.set()

    def _worker_loop(self) -> None:
        while True:
            with self._lock:
                nxt = self._next()
            if nxt is None or (nxt == WAIT and self.mode == "helper"):
                return
            if nxt == WAIT:
                self.cancel.wait(0.5)
                continue
            trial, params, exp = nxt
            try:
                done = self.executor.run(exp, params, trial)
                with self._lock:
                    self._record(trial, exp, params, done)
            finally:
                self.leases.release(exp.id)

    # -- recording ---------------------------------------------------------------------------
    def _constraints(self, metrics: dict | None, deploy: float = 0.0, known: float = 0.0) -> dict[str, float]:
        out = {"deploy": deploy, "known": known}
        for metric in self.task.slo:
            if metrics is None:
                out[f"slo:{metric}"] = 1.0
            else:
                v = self.task.slo_violations(metrics)[metric]
                out[f"slo:{metric}"] = min(v, 10.0) if not math.isnan(v) else 10.0
        return out

    def _tell(self, trial: optuna.Trial, values: list[float], constraints: dict[str, float]) -> None:
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        self.study.tell(trial, values if len(values) > 1 else values[0])

    def _tell_recorded(self, trial: optuna.Trial, exp: ExperimentRow) -> None:
        if exp.status in ("failed", "rejected"):
            self._tell(trial, failure_values(self.task), self._constraints(
                None, deploy=1.0 if exp.status == "failed" else 0.0, known=1.0 if exp.status == "rejected" else 0.0))
        else:
            self._tell(trial, objective_values(self.task, exp.metrics), self._constraints(exp.metrics))

    def _record(self, trial: optuna.Trial, exp: ExperimentRow, params: dict, done: Executed) -> None:
        """Record the experiment, then tell the search what it learned."""
        metrics = self.executor.record(exp, params, done)
        if metrics is None:  # taken back: its trial was failed and its configuration queued again
            return
        if done.status == "interrupted":  # stopped, not measured: whichever tuner asks next runs it again
            self.study.tell(trial, state=TrialState.FAIL)
            self._requeue(params)
            self.store.update_experiment(exp.id, extra={**(self.store.experiment(exp.id).extra or {}),
                                                        "requeued": True})
        elif done.status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif done.status == "failed":
            self._tell(trial, failure_values(self.task), self._constraints(None, deploy=1.0))
        elif done.outcome.verdict == "outclassed" and done.outcome.bound is not None:
            # "no better than bound" (below the incumbent), not infeasible: see early_stop.py
            self._tell(trial, [done.outcome.bound], {key: 0.0 for key in self._constraints(None)})
        else:
            values = [v if not math.isnan(v) else f for v, f in
                      zip(objective_values(self.task, metrics), failure_values(self.task))]
            self._tell(trial, values, self._constraints(metrics))
            if not exp.baseline:  # refit the twin's correction, re-rank the rest of the prior
                self.recalibration = after_experiment(self.recalibration, self.task, self.predictions,
                                                      self._seen_keys, self.study, self.codec, params, metrics)
