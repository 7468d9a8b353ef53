"""Why a simulated engine would not start."""

from __future__ import annotations


class SimStartupError(Exception):
    """The engine would fail at start-up (out of memory, a bad flag, TP not dividing the heads...).

    ``message`` is what the real engine prints (its last lines); ``exit_code`` what it exits with.
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class SimConfigError(SimStartupError):
    """A command-line error (bad value, bad choice, missing model): argparse's exit code 2."""

    def __init__(self, message: str, usage: str = ""):
        super().__init__(message, exit_code=2)
        self.usage = usage
