"""The simulated engine: SGLang's or vLLM's command line and OpenAI API, on a GPU it pretends to have.

Real time: ``python -m autotuner.sim --personality sglang --model-path M --port 30000 ...`` (``cli.main``).
Virtual time: ``virtual.simulate_benchmark(argv, workload, ...)`` runs the same scheduler without HTTP
or sleeping and returns what the benchmark would have measured.
"""

from .errors import SimConfigError, SimStartupError

__all__ = ["SimConfigError", "SimStartupError", "simulate_benchmark"]


def __getattr__(name: str):
    if name == "simulate_benchmark":
        from .virtual import simulate_benchmark
        return simulate_benchmark
    raise AttributeError(name)
