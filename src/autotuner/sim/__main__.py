"""``python -m autotuner.sim``: the simulated engine's server."""

import sys

from .cli import main

sys.exit(main())
