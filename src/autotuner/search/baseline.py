"""The baseline: the engine's own defaults (only the task's ``fixed_args``), measured once per task.

When the defaults are a point of the search space (every tunable's default, as the engine resolves
it, is one of the space's values), the search is told the baseline's result as a trial, and asking
for that configuration again is answered from the baseline instead of measuring it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engines import get_adapter
from ..spec.task import Task
from ..store import ExperimentRow, params_key
from ..store.models import FINISHED
from .space import SpaceCodec
from .warm_start import recorded_trial

if TYPE_CHECKING:
    from .tuner import Tuner


def defaults_in_space(task: Task, codec: SpaceCodec) -> dict | None:
    defaults = get_adapter(task.engine).effective_defaults(list(task.search.space), task.fixed_args,
                                                           task.engine_version)
    return defaults if defaults is not None and codec.contains(defaults) else None


def run_baseline(tuner: "Tuner", wait: bool) -> None:
    """Measure the defaults unless done; ``wait`` for another tuner's run of them to end."""
    while tuner.task.search.baseline and not tuner._cancelled():
        got = tuner.store.reserve_experiment(tuner.task_id, {}, None, tuner.worker, tuner.lease_seconds, 1,
                                             baseline=True, status="pending")
        if got.row is not None:
            tuner.leases.hold(got.row.id)
            try:
                outcome, status = tuner._run(got.row, {}, None)
                tuner._finish_experiment(got.row, {}, outcome, status)
            finally:
                tuner.leases.release(got.row.id)
            _tell(tuner, tuner.store.experiment(got.row.id))
            return
        if got.recorded is not None or not wait:
            return
        tuner.leases.take_back_expired(tuner.study, tuner._taken_back)
        tuner.cancel.wait(0.5)


def baseline_equivalent(tuner: "Tuner", params: dict) -> ExperimentRow | None:
    """The finished baseline, when ``params`` are the defaults."""
    if tuner._defaults is None or params_key(params) != params_key(tuner._defaults):
        return None
    done = [e for e in tuner.store.experiments(tuner.task_id) if e.baseline and e.status in FINISHED]
    return done[0] if done else None


def _tell(tuner: "Tuner", exp: ExperimentRow | None) -> None:
    if exp is None or tuner._defaults is None or exp.status not in FINISHED:
        return
    trial = recorded_trial(tuner.task, tuner.codec, tuner._defaults, exp.status, exp.metrics)
    if trial is not None:
        tuner.study.add_trial(trial)
        tuner._seen_keys.add(params_key(tuner._defaults))
        tuner._emit("baseline_in_space", exp.id, params=tuner._defaults)
