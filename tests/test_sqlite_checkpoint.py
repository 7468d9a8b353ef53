"""On a clean exit SQLite's write-ahead log is checkpointed: a copy of the ``.db`` file alone is whole."""

import shutil
import sqlite3

import httpx
import pytest

from autotuner.store import Store

from .serve_support import require_sim, serve, sse_events


def _tasks_in_copy_of(db, tmp_path) -> list[tuple[str, str]]:
    """Only the .db file, as someone copying or backing it up would take it (no -wal beside it)."""
    copy = tmp_path / "copy" / "only.db"
    copy.parent.mkdir()
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        return conn.execute("SELECT name, status FROM at_tasks ORDER BY id").fetchall()


def test_closing_a_store_while_another_connection_is_open_checkpoints(tmp_path):
    db = tmp_path / "db.sqlite"
    other = Store(str(db))
    other.tasks()  # holds an open pooled connection: SQLite would not clean the log up by itself
    writer = Store(str(db))
    writer.create_task("kept", {"name": "kept"}, status="succeeded")
    assert (tmp_path / "db.sqlite-wal").stat().st_size > 0  # the row is in the log only
    writer.dispose()
    try:
        assert (tmp_path / "db.sqlite-wal").stat().st_size == 0
        assert _tasks_in_copy_of(db, tmp_path) == [("kept", "succeeded")]
    finally:
        other.dispose()


def test_checkpoint_on_memory_and_twice_is_harmless(tmp_path):
    memory = Store("sqlite://")
    assert memory.checkpoint() is True
    memory.dispose()
    s = Store(str(tmp_path / "db.sqlite"))
    s.create_task("a", {})
    assert s.checkpoint() and s.checkpoint()
    s.close()
    assert Store(str(tmp_path / "db.sqlite")).task_by_name("a") is not None


@pytest.mark.slow
def test_serve_with_a_finished_task_leaves_a_whole_db_file(tmp_path):
    require_sim()
    db = tmp_path / "db.sqlite"
    reader = Store(str(db))  # another process's connection, open across the server's exit
    try:
        with serve(str(db), tmp_path, workers=1) as base:
            task = {
                "name": "ckpt", "model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "sglang",
                "search": {"strategy": "grid", "max_experiments": 2, "baseline": False,
                           "space": {"max-running-requests": [8, 16]}},
                "objective": {"maximize": "output_throughput"},
                "workload": {"scenarios": ["D(64,16)"], "concurrency": [2], "num_requests": 8},
                "simulate": {"gpu": "h100"},
            }
            r = httpx.post(f"{base}/api/tasks", json={"task": task, "virtual_time": True}, timeout=30)
            assert r.status_code == 201, r.text
            events = sse_events(f"{base}/api/tasks/{r.json()['id']}/events")
            assert events[-1]["kind"] == "task_finished" and events[-1]["status"] == "succeeded", events[-1]
            reader.tasks()
        assert _tasks_in_copy_of(db, tmp_path) == [("ckpt", "succeeded")]
    finally:
        reader.dispose()
