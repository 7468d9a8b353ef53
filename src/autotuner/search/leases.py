"""A tuner's leases on the experiments it runs, renewed in the background, and the take-back of
experiments whose tuner stopped renewing (its worker died): marked interrupted, the Optuna trial
failed, the configuration queued again for whichever tuner asks next."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

import optuna
from optuna.trial import TrialState

from ..store import Store

log = logging.getLogger("autotuner.leases")


def default_worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{suffix}" if suffix else "")


class LeaseKeeper:
    def __init__(self, store: Store, task_id: int, worker: str, lease_seconds: float):
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0 (got {lease_seconds})")
        self.store, self.task_id, self.worker, self.lease_seconds = store, task_id, worker, lease_seconds
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, exp_id: int) -> None:
        with self._lock:
            self._held.add(exp_id)

    def release(self, exp_id: int) -> None:
        with self._lock:
            self._held.discard(exp_id)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"leases-{self.task_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _renew_loop(self) -> None:
        while not self._stop.wait(max(self.lease_seconds / 3, 0.2)):
            with self._lock:
                held = sorted(self._held)
            try:
                self.store.renew_experiment_leases(held, self.worker, self.lease_seconds)
            except Exception:  # a database hiccup: the next round tries again, well inside the lease
                log.exception("renewing the leases of experiments %s failed", held)

    def take_back_expired(self, study: optuna.Study, on_taken: Callable[[int, dict, bool], None],
                          requeue: Callable[[dict], None] | None = None) -> None:
        """Experiments of dead tuners: interrupted, their trials failed, their configurations queued
        again through ``requeue`` (None: the budget is spent, nothing runs again)."""
        for exp in self.store.expired_experiments(self.task_id):
            if not self.store.take_back(exp, f"its worker {exp.worker} stopped renewing the lease"):
                continue  # another tuner took it back first
            requeued = exp.trial_number is not None and requeue is not None
            if exp.trial_number is not None:
                fail_if_running(study, exp.trial_number)
            if requeued:
                requeue(exp.params)
            on_taken(exp.id, exp.params, requeued)


def fail_if_running(study: optuna.Study, number: int) -> None:
    trial = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                  if t.number == number), None)
    if trial is not None:
        try:
            study.tell(number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # finished meanwhile by its own tuner
            pass
