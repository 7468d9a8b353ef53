"""One experiment, whoever asks for it (the search loop, the baseline, a confirmation repeat): take its
GPUs, run the runner, name its status, record it and tell the listeners.

The loop and its helpers see only this executor and its events sink, never each other's insides,
as a sampler sees a study and its trials but not the loop that drives them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..deploy.gpu_pool import GpuPool, PoolCancelled
from ..engines import get_adapter
from ..spec.task import Task
from ..store import ExperimentRow, Store
from ..store.models import utcnow
from .early_stop import EarlyStopper
from .runners import ExperimentRunner, Outcome, engine_config
from .scoring import better, objective_values, select_metrics
from .verdict import experiment_status, status_error

EventSink = Callable[[str, dict], None]
CANCEL_POLL_SECONDS = 1.0  # how often the database is asked whether the task was cancelled
BRIEF_METRICS = ("ttft_p90", "tpot_p90", "output_throughput", "output_throughput_per_gpu", "request_throughput",
                 "success_rate")


def experiment_name(task_name: str, exp_id: int, repeat: int | str | None = None) -> str:
    """The name an experiment's engine (process, container, cluster object, log file) goes by."""
    return f"{task_name}-exp{exp_id}" + (f"-repeat{repeat}" if repeat is not None else "")


class Events:
    """The events sink: every event is stored with the task and handed to ``on_event``."""

    def __init__(self, store: Store, task_id: int, on_event: EventSink | None = None):
        self.store, self.task_id = store, task_id
        self.on_event = on_event or (lambda kind, data: None)

    def emit(self, kind: str, exp_id: int | None = None, **data: Any) -> None:
        payload = {"experiment": exp_id, **data}
        self.store.add_event(self.task_id, kind, payload)
        self.on_event(kind, payload)


@dataclass
class Executed:
    outcome: Outcome
    status: str  # see verdict.experiment_status


class ExperimentExecutor:
    def __init__(self, task: Task, store: Store, task_id: int, runner: ExperimentRunner, pool: GpuPool,
                 events: Events, cancel: threading.Event, worker: str):
        self.task, self.store, self.task_id, self.runner, self.pool = task, store, task_id, runner, pool
        self.events, self.cancel, self.worker = events, cancel, worker
        self.best_score: float | None = None  # of the search's succeeded experiments (not the baseline)
        self._last_cancel_poll = 0.0

    def cancelled(self) -> bool:
        """Cancelled here, or through the database (asked at most once a second)."""
        if not self.cancel.is_set() and time.monotonic() - self._last_cancel_poll > CANCEL_POLL_SECONDS:
            self._last_cancel_poll = time.monotonic()
            row = self.store.task(self.task_id)
            if row is not None and row.cancel_requested:
                self.cancel.set()
        return self.cancel.is_set()

    def gpu_count(self, params: dict) -> int:
        return get_adapter(self.task.engine).gpu_count(engine_config(self.task, params))

    # -- one experiment ----------------------------------------------------------------------
    def run(self, exp: ExperimentRow, params: dict, trial=None) -> Executed:  # noqa: ANN001 (optuna.Trial)
        """Measure ``exp`` (reserved and leased by the caller); ``trial`` lets early stopping prune."""
        try:
            gpus = self.pool.acquire(self.gpu_count(params), cancel=self.cancel)
        except PoolCancelled:
            return Executed(Outcome(False, error="cancelled while waiting for GPUs", reason="cancelled"),
                            "interrupted")
        name = experiment_name(self.task.name, exp.id)
        try:
            self.store.update_experiment(exp.id, status="running", started_at=utcnow(), gpus=gpus, phase="starting",
                                         log_path=self.runner.log_path(name))
            self.events.emit("experiment_started", exp.id, params=params, gpus=gpus, baseline=exp.baseline)
            stopper = EarlyStopper(self.task, trial, incumbent=None if exp.baseline else self.best_score)

            def on_level(level) -> bool:  # noqa: ANN001 (LevelResult)
                self.events.emit("level_finished", exp.id, level=level.label,
                                 metrics={k: level.metrics.get(k) for k in BRIEF_METRICS})
                return stopper.on_level(level)

            outcome = self.runner.run(params, gpus, name, lambda phase: self._phase(exp.id, phase), on_level,
                                      self.cancel)
        finally:
            self.pool.release(gpus)
        outcome.verdict, outcome.bound = stopper.verdict, stopper.bound
        return Executed(outcome, experiment_status(self.task, outcome))

    def record(self, exp: ExperimentRow, params: dict, done: Executed) -> dict | None:
        """Store the result; returns its metrics, or None when the experiment is no longer ours (our
        lease lapsed, a stalled or cut-off worker, and another tuner took it back)."""
        outcome, status = done.outcome, done.status
        metrics = select_metrics(self.task, outcome.levels) if outcome.ok else {}
        values = objective_values(self.task, metrics) if metrics else []
        score = values[0] if values and not math.isnan(values[0]) else None
        error = status_error(self.task, outcome, status, metrics)
        kept = self.store.finish_experiment(exp.id, self.worker, status=status, finished_at=utcnow(),
                                            metrics=metrics, levels=outcome.levels, score=score, scores=values,
                                            error=error, phase=None,
                                            log_path=outcome.log_path or self.runner.log_path(
                                                experiment_name(self.task.name, exp.id)),
                                            extra={"timings": outcome.timings, "reason": outcome.reason,
                                                   "telemetry": outcome.telemetry, "early_stop": outcome.verdict})
        if not kept:
            self.events.emit("experiment_result_dropped", exp.id, params=params, status=status,
                             reason="the lease had expired and the experiment was taken back")
            return None
        self.events.emit("experiment_finished", exp.id, params=params, status=status, score=score, error=error,
                         baseline=exp.baseline)
        if status == "succeeded" and not exp.baseline and better(self.task, score, self.best_score):
            self.best_score = score
            self.events.emit("best_changed", exp.id, params=params, score=score)
        return metrics

    def reject(self, exp: ExperimentRow, params: dict, reason: str) -> None:
        """Known not to fit before it runs (too many GPUs, heads not divisible): never deployed."""
        self.store.update_experiment(exp.id, status="rejected", error=reason, finished_at=utcnow())
        self.events.emit("experiment_finished", exp.id, params=params, status="rejected", error=reason)

    def rerun(self, exp: ExperimentRow, phase: str, name: str) -> Outcome | None:
        """A finished experiment measured again with every level (no early stop); None when cancelled
        while waiting for its GPUs."""
        try:
            gpus = self.pool.acquire(self.gpu_count(exp.params), cancel=self.cancel)
        except PoolCancelled:
            return None
        try:
            self.events.emit("experiment_phase", exp.id, phase=phase)
            return self.runner.run(exp.params, gpus, name, lambda _phase: None, lambda _level: True, self.cancel)
        finally:
            self.pool.release(gpus)

    def measure_again(self, exp: ExperimentRow, repeat: int) -> dict | None:
        """A confirmation run of a finished experiment: its metrics, or None when it did not succeed."""
        outcome = self.rerun(exp, f"confirming (repeat {repeat})", experiment_name(self.task.name, exp.id, repeat))
        return select_metrics(self.task, outcome.levels) if outcome is not None and outcome.ok else None

    def take_back(self, exp_id: int, params: dict, requeued: bool) -> None:
        """An experiment whose worker stopped renewing its lease: its engine is reaped if reachable."""
        reaped = self.runner.reap(experiment_name(self.task.name, exp_id))
        self.events.emit("experiment_taken_back", exp_id, params=params, requeued=requeued, reaped=reaped,
                         reason="its worker stopped renewing the lease")

    def _phase(self, exp_id: int, phase: str) -> None:
        self.store.update_experiment(exp_id, phase=phase)
        self.events.emit("experiment_phase", exp_id, phase=phase)
