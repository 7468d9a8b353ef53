"""A fake engine that listens but never becomes healthy: /health answers 503 for ever."""

from healthy import main

if __name__ == "__main__":
    print("fake engine: loading weights (this never finishes)")
    main(["--delay", "0"], status=503)
