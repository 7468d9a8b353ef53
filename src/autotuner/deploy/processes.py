"""Linux process-group helpers: who is still alive, and ending a whole group for sure.

Engines run in their own session (so the terminal's Ctrl-C does not reach them directly), which makes
their process group the unit to signal: it holds the engine and every worker it forks.
Zombies count as dead: they hold no memory or GPU, and only their parent can remove them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HAVE_PROC = Path("/proc/self/stat").exists()
KILL_WAIT = 5.0  # how long to wait for the kernel to clear a group after SIGKILL
_POLL = 0.05


@dataclass(frozen=True)
class ProcStat:
    state: str
    pgid: int
    start_ticks: int  # clock ticks after boot: with the pid, identifies one process for ever

    @property
    def dead(self) -> bool:
        return self.state in ("Z", "X")


def proc_stat(pid: int) -> ProcStat | None:
    """The process's /proc/<pid>/stat fields we need, or None when it does not exist (or no /proc)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    try:
        return ProcStat(state=fields[0], pgid=int(fields[2]), start_ticks=int(fields[19]))
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat.start_ticks if stat else None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    if HAVE_PROC:
        stat = proc_stat(pid)
        return stat is not None and not stat.dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the group; needs /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.pgid == pgid and not stat.dead:
                members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)  # cheap check first: fails once every member is gone and reaped
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid)) if HAVE_PROC else True


def is_our_group(pgid: int, leader_ticks: int | None) -> bool:
    """False when the leader's pid now names another process (pid reuse), whose group is not ours.

    While any member of our group lives the kernel does not reuse its id, so a different process under
    that pid proves our group is gone.
    """
    if leader_ticks is None:
        return True
    stat = proc_stat(pgid)
    return stat is None or stat.start_ticks == leader_ticks


def signal_group(pgid: int, sig: int, leader_ticks: int | None = None) -> None:
    if not is_our_group(pgid, leader_ticks):
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pgid: int, timeout: float, leader: subprocess.Popen | None, leader_ticks: int | None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if leader is not None:
            leader.poll()  # reap our child as soon as it exits
        if not is_our_group(pgid, leader_ticks) or not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def _reap(leader: subprocess.Popen | None) -> None:
    if leader is None:
        return
    try:
        leader.wait(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:
        pass


def terminate_group(pgid: int, grace: float, leader: subprocess.Popen | None = None,
                    leader_ticks: int | None = None) -> bool:
    """SIGTERM the group, wait up to ``grace`` seconds for all of it to exit, then SIGKILL what is left.

    ``leader`` is the Popen of the group leader when it is our child (it is then reaped too);
    ``leader_ticks`` its start time, which guards against signalling a stranger that reused the id.
    Returns True when SIGKILL was needed. An interrupt (a second Ctrl-C) while waiting kills at once.
    """
    killed = False
    try:
        signal_group(pgid, signal.SIGTERM, leader_ticks)
        if not _wait_gone(pgid, grace, leader, leader_ticks):
            killed = True
            signal_group(pgid, signal.SIGKILL, leader_ticks)
            _wait_gone(pgid, KILL_WAIT, leader, leader_ticks)
    except BaseException:
        signal_group(pgid, signal.SIGKILL, leader_ticks)
        _reap(leader)
        raise
    _reap(leader)
    return killed
