"""``GET /metrics`` in the Prometheus text format, with each personality's real metric names."""

from __future__ import annotations

from .engine import SimEngine


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(engine: SimEngine, gen_throughput: float) -> str:
    """The exposition text; ``gen_throughput`` is the recent output tokens per second (SGLang's gauge)."""
    stats = engine.stats()
    label = f'{{model_name="{_escape(engine.config.served_name)}"}}'
    if engine.config.personality == "sglang":
        hit_rate = stats.cache_hits / stats.cache_queries if stats.cache_queries else 0.0
        series = [
            ("sglang:num_running_reqs", "gauge", "The number of running requests.", engine.num_running),
            ("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.", engine.num_waiting),
            ("sglang:token_usage", "gauge", "The token usage (fraction of the KV cache in use).", engine.kv_usage),
            ("sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.", hit_rate),
            ("sglang:gen_throughput", "gauge", "The generation throughput (token/s).", gen_throughput),
            ("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.", stats.prompt_tokens),
            ("sglang:generation_tokens_total", "counter", "Number of generation tokens processed.",
             stats.generation_tokens),
            ("sglang:num_retractions_total", "counter", "Number of decode retractions.", stats.preemptions),
        ]
    else:
        label = label[:-1] + ',engine="0"}'
        series = [
            ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
             engine.num_running),
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", engine.num_waiting),
            ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", engine.kv_usage),
            ("vllm:prefix_cache_queries_total", "counter",
             "Prefix cache queries, in terms of number of queried tokens.", stats.cache_queries),
            ("vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.",
             stats.cache_hits),
            ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", stats.prompt_tokens),
            ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
             stats.generation_tokens),
            ("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.",
             stats.preemptions),
        ]
    lines: list[str] = []
    for name, kind, help_text, value in series:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{label} {float(value)!r}"]
    return "\n".join(lines) + "\n"
