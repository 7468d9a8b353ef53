"""The baseline: the engine's own defaults (only the task's ``fixed_args``), measured once per task.

When the defaults are a point of the search space (every tunable's default, as the engine resolves
it, is one of the space's values), the search is told the baseline's result as a trial, and asking
for that configuration again is answered from the baseline instead of measuring it twice.
"""

from __future__ import annotations

import optuna

from ..engines import get_adapter
from ..spec.task import Task
from ..store import ExperimentRow, Store, params_key
from ..store.models import FINISHED
from .experiment import ExperimentExecutor
from .leases import LeaseKeeper
from .space import SpaceCodec
from .warm_start import recorded_trial


def defaults_in_space(task: Task, codec: SpaceCodec) -> dict | None:
    defaults = get_adapter(task.engine).effective_defaults(list(task.search.space), task.fixed_args,
                                                           task.engine_version)
    return defaults if defaults is not None and codec.contains(defaults) else None


class Baseline:
    """The task's baseline experiment; ``defaults``: the engine's defaults as a point of the space, or None."""

    def __init__(self, task: Task, codec: SpaceCodec, store: Store, task_id: int, executor: ExperimentExecutor,
                 leases: LeaseKeeper):
        self.task, self.codec, self.store, self.task_id = task, codec, store, task_id
        self.executor, self.leases = executor, leases
        self.defaults = defaults_in_space(task, codec)

    def run(self, study: optuna.Study, wait: bool) -> str | None:
        """Measure the defaults unless done; ``wait`` for another tuner's run of them to end. Returns
        the defaults' key when the study was told the result (the search need not ask for them)."""
        while self.task.search.baseline and not self.executor.cancelled():
            got = self.store.reserve_experiment(self.task_id, {}, None, self.leases.worker, self.leases.lease_seconds,
                                                1, baseline=True, status="pending")
            if got.row is not None:
                self.leases.hold(got.row.id)
                try:
                    self.executor.record(got.row, {}, self.executor.run(got.row, {}))
                finally:
                    self.leases.release(got.row.id)
                return self._tell(study, self.store.experiment(got.row.id))
            if got.recorded is not None or not wait:
                return None
            self.leases.take_back_expired(study, self.executor.take_back)
            self.executor.cancel.wait(0.5)
        return None

    def equivalent(self, params: dict) -> ExperimentRow | None:
        """The finished baseline, when ``params`` are the defaults."""
        if self.defaults is None or params_key(params) != params_key(self.defaults):
            return None
        done = [e for e in self.store.experiments(self.task_id) if e.baseline and e.status in FINISHED]
        return done[0] if done else None

    def _tell(self, study: optuna.Study, exp: ExperimentRow | None) -> str | None:
        if exp is None or self.defaults is None or exp.status not in FINISHED:
            return None
        trial = recorded_trial(self.task, self.codec, self.defaults, exp.status, exp.metrics)
        if trial is None:
            return None
        study.add_trial(trial)
        self.executor.events.emit("baseline_in_space", exp.id, params=self.defaults)
        return params_key(self.defaults)
