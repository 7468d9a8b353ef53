"""Start a local engine that dies with its tuner: ``python -m autotuner.deploy.launcher --watch FD -- ARGV...``.

The tuner keeps the write end of a pipe whose read end, ``FD``, it hands to this launcher. The launcher
forks the engine (``ARGV``) in its own process group and waits for whichever comes first:

- the engine exits: the launcher exits the same way (code or signal), so the tuner sees the engine's fate;
- the pipe reaches end of file: the tuner is gone (even by ``kill -9``: the kernel closes a dead process's
  descriptors) or let go of the engine; the launcher then SIGKILLs its whole process group, the engine and
  every process it forked.

A pipe rather than ``PR_SET_PDEATHSIG``: the death signal follows the thread that forked, and the tuner
deploys from worker threads. SIGTERM sent to the group (the tuner's normal stop) reaches the engine
directly; the launcher only waits for the engine to go. Standard library only: it starts quickly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

USAGE = "usage: python -m autotuner.deploy.launcher --watch FD -- ARGV..."
CANNOT_EXEC = 127  # the shell's code for "command not found / not executable"


def parse(argv: list[str]) -> tuple[int, list[str]]:
    """(watch fd, engine argv) from ``--watch FD -- ARGV...``; SystemExit(2) with the usage otherwise."""
    if len(argv) < 4 or argv[0] != "--watch" or argv[2] != "--" or not argv[1].isdigit():
        raise SystemExit(f"{USAGE}\n(got: {' '.join(argv)[:200]})")
    return int(argv[1]), argv[3:]


def _kill_group_when_closed(watch_fd: int) -> None:
    while True:
        try:
            if not os.read(watch_fd, 64):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    os.killpg(os.getpgid(0), signal.SIGKILL)  # the engine, its children, and this launcher


def _exit_like(status: int) -> None:
    """End this process the way the engine ended: its exit code, or the same signal."""
    code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # the shell's convention, should the signal not end us
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    watch_fd, command = parse(sys.argv[1:] if argv is None else argv)
    # A handler, not SIG_IGN: handlers reset to the default on exec, so the engine still gets SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: None)
    pid = os.fork()
    if pid == 0:  # the engine
        try:
            os.close(watch_fd)
            os.execvp(command[0], command)
        except OSError as e:
            os.write(2, f"autotuner launcher: cannot run {command[0]!r}: {e}\n".encode())
        os._exit(CANNOT_EXEC)
    threading.Thread(target=_kill_group_when_closed, args=(watch_fd,), daemon=True).start()
    _, status = os.waitpid(pid, 0)  # retried by Python when a signal interrupts it
    _exit_like(status)


if __name__ == "__main__":
    main()
