"""A healthy fake engine that ignores SIGTERM: only SIGKILL ends it."""

from healthy import main

if __name__ == "__main__":
    main(["--ignore-sigterm"])
