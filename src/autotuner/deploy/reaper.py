"""Records of running engines on disk, so that a tuner killed without cleanup can be cleaned up after.

Each local engine gets ``<state_dir>/engines/<name>.json`` while it runs. A record names the process
group, the start time of its leader (to tell it from a later process that reuses the pid) and the
tuner that owns it (so that a second tuner sharing the state directory leaves live runs alone).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .processes import group_alive, pid_alive, proc_stat, start_ticks, terminate_group

log = logging.getLogger(__name__)

_SECRET_FLAG = re.compile(r"key|token|secret|password", re.IGNORECASE)


def safe_name(name: str) -> str:
    """The name as a file name: path separators and odd characters become '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    if not cleaned:
        raise ValueError(f"deployment name {name!r} is empty once made safe for a file name")
    return cleaned


def masked_argv(argv: list[str]) -> list[str]:
    """The command with the values of secret-looking flags (--api-key, --hf-token, ...) hidden."""
    out, hide_next = [], False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
        elif arg.startswith("-") and _SECRET_FLAG.search(arg):
            flag, eq, _ = arg.partition("=")
            out.append(f"{flag}=***" if eq else arg)
            hide_next = not eq
        else:
            out.append(arg)
    return out


def describe_command(argv: list[str], limit: int = 160) -> str:
    text = shlex.join(masked_argv(argv))
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class EngineRecord:
    name: str
    pid: int
    pgid: int
    argv: list[str]
    started_at: float  # wall clock, for people
    start_ticks: int | None  # /proc/<pid>/stat starttime of the leader, for the pid-reuse guard
    owner_pid: int
    owner_start_ticks: int | None
    log_path: str | None = None

    @classmethod
    def for_process(cls, name: str, pid: int, argv: list[str], log_path: Path | None) -> "EngineRecord":
        me = os.getpid()
        return cls(name=name, pid=pid, pgid=pid, argv=masked_argv(argv), started_at=time.time(),
                   start_ticks=start_ticks(pid), owner_pid=me, owner_start_ticks=start_ticks(me),
                   log_path=str(log_path) if log_path else None)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return f"{self.name} (pid {self.pid}, started {when}): {describe_command(self.argv)}"

    def owner_alive(self) -> bool:
        if not pid_alive(self.owner_pid):
            return False
        return self.owner_start_ticks is None or start_ticks(self.owner_pid) == self.owner_start_ticks


class EngineRecords:
    """The directory of records: one JSON file per running engine."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir) / "engines"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.dir / f"{safe_name(name)}.json"

    def write(self, record: EngineRecord) -> Path:
        path = self.path(record.name)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(record), indent=1))
        tmp.replace(path)  # atomic: a reader never sees half a record
        return path

    @staticmethod
    def remove(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def load_all(self) -> list[tuple[Path, EngineRecord | None]]:
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                out.append((path, EngineRecord(**json.loads(path.read_text()))))
            except (OSError, ValueError, TypeError):
                out.append((path, None))
        return out


def reap_leftovers(records: EngineRecords, grace: float, in_use: set[Path] = frozenset(),
                   name: str | None = None) -> list[str]:
    """Kill engines whose tuner is gone; returns a description of each engine killed.

    Records whose owner still runs are skipped (another live tuner), as are ``in_use`` paths (this
    process's own running engines). Records of engines already gone are just deleted. With ``name``,
    only that deployment's record is looked at.
    """
    reaped = []
    for path, record in records.load_all():
        if record is None:
            log.warning("removing unreadable engine record %s", path)
            records.remove(path)
            continue
        if name is not None and record.name != name:
            continue
        if path in in_use or (record.owner_pid != os.getpid() and record.owner_alive()):
            continue
        leader = proc_stat(record.pid)
        if leader is not None and record.start_ticks is not None and leader.start_ticks != record.start_ticks:
            pass  # the pid now belongs to another process: our group is gone (see is_our_group)
        elif (leader is not None and not leader.dead) or group_alive(record.pgid):
            terminate_group(record.pgid, grace, leader_ticks=record.start_ticks)
            reaped.append(record.describe())
        records.remove(path)
    return reaped
