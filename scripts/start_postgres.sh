#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: installs Debian's postgresql when missing, creates a
# cluster in $AUTOTUNER_PGDATA (default /tmp/autotuner-pg), starts it on 127.0.0.1:$AUTOTUNER_PGPORT
# (default 55432), creates the database and user, and prints the SQLAlchemy URL on stdout (logs go
# to stderr):  URL=$(scripts/start_postgres.sh)
# Idempotent: a server already running there is reused. `scripts/start_postgres.sh stop` stops it.
# PostgreSQL refuses to run as root: as root, the server runs as the 'postgres' user (runuser).
set -euo pipefail

PGDATA_DIR="${AUTOTUNER_PGDATA:-/tmp/autotuner-pg}"
PORT="${AUTOTUNER_PGPORT:-55432}"
DB="${AUTOTUNER_PGDATABASE:-autotuner}"
DB_USER="${AUTOTUNER_PGUSER:-autotuner}"
DB_PASSWORD="${AUTOTUNER_PGPASSWORD:-autotuner}"
log() { echo "[start_postgres] $*" >&2; }

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
  if [ "${1:-}" = "stop" ]; then exit 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    exit 1
  fi
  log "installing Debian's postgresql"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
  BIN="$(find_bin)"
fi

if [ "$(id -u)" -eq 0 ]; then
  AS_PG=(runuser -u postgres --)
  OWNER=postgres
else
  AS_PG=()
  OWNER="$(id -un)"
fi

if [ "${1:-}" = "stop" ]; then
  if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
    "${AS_PG[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 || true
  fi
  exit 0
fi

mkdir -p "$PGDATA_DIR"
chown "$OWNER" "$PGDATA_DIR"
chmod 700 "$PGDATA_DIR"
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
  log "creating a cluster in $PGDATA_DIR"
  "${AS_PG[@]}" "$BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --no-instructions >/dev/null
fi

if ! "${AS_PG[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  "${AS_PG[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
fi

psql_admin() {
  "${AS_PG[@]}" "$BIN/psql" -h "$PGDATA_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]; then
  # CREATEDB: tests make a fresh database each
  psql_admin -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB PASSWORD '$DB_PASSWORD'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$DB_USER\"" >&2
fi
echo "postgresql+psycopg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB"
