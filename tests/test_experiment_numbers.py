"""Experiment numbers within a task (what the pages show as ``#n``): ranks of the task's ids, kept
correct as experiments arrive, when an earlier id commits late, and when a task's rows are replaced."""

from __future__ import annotations

from sqlalchemy import delete

from autotuner.api.numbering import experiment_numbers
from autotuner.store import ExperimentRow, Store


def add(store: Store, task_id: int, n: int, **fields) -> list[int]:
    return [store.add_experiment(task_id, {"x": i}, i, **fields).id for i in range(n)]


def test_numbers_run_per_task_while_ids_run_across_tasks(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    a = store.create_task("a", {"name": "a"}).id
    b = store.create_task("b", {"name": "b"}).id
    ids_a = add(store, a, 2)
    ids_b = add(store, b, 3)
    ids_a += add(store, a, 2)
    assert experiment_numbers(store, a) == {i: n for n, i in enumerate(ids_a, start=1)}
    assert experiment_numbers(store, b) == {ids_b[0]: 1, ids_b[1]: 2, ids_b[2]: 3}
    # New experiments extend the numbering; the earlier numbers stay.
    more = add(store, b, 2)
    assert experiment_numbers(store, b) == {i: n for n, i in enumerate(ids_b + more, start=1)}


def test_an_earlier_id_committed_late_renumbers_the_task(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    task = store.create_task("t", {"name": "t"}).id
    first = add(store, task, 1)[0]
    last = store.add_experiment(task, {"x": 9}, 9, id=first + 5).id  # a worker's row with a later id
    assert experiment_numbers(store, task) == {first: 1, last: 2}
    between = store.add_experiment(task, {"x": 5}, 5, id=first + 2).id  # another worker's, committed after
    assert experiment_numbers(store, task) == {first: 1, between: 2, last: 3}


def test_replaced_rows_are_numbered_afresh(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    task = store.create_task("t", {"name": "t"}).id
    add(store, task, 3)
    assert len(experiment_numbers(store, task)) == 3
    with store.session() as s, s.begin():
        s.execute(delete(ExperimentRow).where(ExperimentRow.task_id == task))
    assert experiment_numbers(store, task) == {}
    fresh = add(store, task, 2)
    assert experiment_numbers(store, task) == {fresh[0]: 1, fresh[1]: 2}
