"""Deploys a fake engine with LocalDeployer, prints 'ready PID', then sleeps: for Ctrl-C and kill -9 tests.

usage: driver.py ENGINE_SCRIPT LOG_DIR STATE_DIR STARTUP_TIMEOUT [with|exit]
  with: hold the engine in a ``with`` block and sleep (default);
  exit: deploy without ``with`` and return at once, leaving the engine to the atexit safety net.
"""

import sys
import time
from pathlib import Path

from autotuner.deploy.local import LocalDeployer
from autotuner.engines.launch import LaunchSpec

engine, log_dir, state_dir, timeout = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "with"
deployer = LocalDeployer(log_dir, state_dir, grace=1.0)
spec = LaunchSpec(engine="sim", argv=[sys.executable, engine], model_name="m")
print("deploying", flush=True)
if mode == "exit":
    print(f"ready {deployer.deploy(spec, 'driven', [0], startup_timeout=timeout).pid}", flush=True)
    sys.exit(0)
with deployer.deploy(spec, "driven", [0], startup_timeout=timeout) as d:
    print(f"ready {d.pid}", flush=True)
    time.sleep(600)
