"""A fresh PostgreSQL database for a test module, from scripts/start_postgres.sh (skips without one)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def server_url() -> str:
    """The URL printed by scripts/start_postgres.sh, or pytest.skip with the reason."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    try:
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "start_postgres.sh")], capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"scripts/start_postgres.sh could not provide PostgreSQL: {e}")
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        pytest.skip(f"scripts/start_postgres.sh could not provide PostgreSQL (exit {proc.returncode}): {tail}")
    return proc.stdout.strip().splitlines()[-1]


def fresh_database():
    """Yields the URL of a new empty database; drops it afterwards."""
    from sqlalchemy import create_engine, text

    base = server_url()
    name = f"autotuner_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
