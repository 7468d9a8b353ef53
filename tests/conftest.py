"""Fixtures shared by the test modules: a store on each database backend the project supports
(the store and worker tests run on both, as one test body)."""

import pytest

from autotuner.store import Store

from .fake_runner import tmp_db
from .report_fixtures import run_demo
from .pg_support import fresh_database


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for the session (skips, with the reason, when none can be had)."""
    yield from fresh_database()


@pytest.fixture
def store():
    """A store on a fresh SQLite file."""
    s = Store(str(tmp_db()))
    yield s
    s.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request):
    """A store on SQLite, then on PostgreSQL; emptied after each test."""
    url = str(tmp_db()) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    yield store
    if request.param == "postgresql":  # Optuna's tables stay: studies are per task id
        with store.engine.begin() as conn:
            for table in ("at_events", "at_experiments", "at_tasks"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    store.dispose()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo task tuned once in virtual time (its output, database and results) for the tests
    that only read it."""
    done = run_demo(tmp_path_factory.mktemp("demo"))
    assert done.returncode == 0, done.stdout
    return done
