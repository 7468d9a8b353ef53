"""A healthy fake engine with a child process in its group (like an engine's worker processes)."""

from healthy import main

if __name__ == "__main__":
    main(["--spawn-child"])
