"""A fake engine that fails at start-up with an ordinary error."""

import os
import sys

print(f"fake engine: pid={os.getpid()}")
print("fake engine: parsing arguments")
print("Traceback (most recent call last):", file=sys.stderr)
print("ValueError: --tp-size 3 does not divide the number of attention heads (32)", file=sys.stderr)
sys.exit(3)
