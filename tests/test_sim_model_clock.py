"""The real-time simulated engine keeps its model clock: a host too busy to run it on time delays the
tokens' delivery, but the engine's schedule (and so its throughput) is the model's."""

import asyncio
import time

from autotuner.sim.driver import RealTimeDriver
from autotuner.sim.engine import SimEngine

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
TOKENS = 200
STALL_S = 0.3  # the event loop blocked, as by a starved CPU


async def _serve_one(stall: float) -> tuple[float, float]:
    """(seconds from submit to the last token, model seconds the request needed)."""
    engine = SimEngine.from_argv(["--model-path", LLAMA, "--startup-seconds", "0"])
    driver = RealTimeDriver(engine)
    driver.start()
    try:
        submitted = time.monotonic()
        request = engine.make_request("r1", 256, TOKENS, driver.now())
        queue = driver.submit(request)
        if stall:
            time.sleep(stall)  # nothing runs: not the driver, not the delivery
        while (await queue.get())[0] == "token":
            pass
        took = time.monotonic() - submitted
    finally:
        await driver.stop()
    return took, took


def test_a_stalled_host_delays_tokens_but_not_the_engines_schedule():
    calm, _ = asyncio.run(_serve_one(0.0))
    assert calm > 2 * STALL_S, f"the request must outlast the stall to tell the two apart ({calm:.2f} s)"
    stalled, _ = asyncio.run(_serve_one(STALL_S))
    # Old behaviour: the engine started its first step only once it got the CPU back, so the stall
    # was added to every request (stalled ~= calm + STALL_S). With the model clock it catches up.
    assert stalled < calm + STALL_S / 2, (calm, stalled)
