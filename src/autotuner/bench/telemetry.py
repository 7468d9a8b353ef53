"""Engine telemetry: poll the engine's Prometheus ``/metrics`` during a benchmark and keep a time series
of running and queued requests, KV-cache usage and prefix-cache hit rate.

A thread polls while the benchmark runs; an engine without metrics (SGLang needs ``--enable-metrics``)
gives an empty ``Telemetry`` with a note, never an exception.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from statistics import fmean

import httpx

# Per engine: telemetry field -> metric names, first present wins (newer names first).
METRIC_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "sglang": {
        "running": ("sglang:num_running_reqs",),
        "queued": ("sglang:num_queue_reqs",),
        "kv_usage": ("sglang:token_usage",),
        "cache_hit_rate": ("sglang:cache_hit_rate",),
    },
    "vllm": {
        "running": ("vllm:num_requests_running",),
        "queued": ("vllm:num_requests_waiting",),
        "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),  # a 0..1 fraction
        "cache_hit_rate": ("vllm:gpu_prefix_cache_hit_rate",),  # older vLLM; newer: counters below
    },
    "llamacpp": {
        "running": ("llamacpp:requests_processing",),
        "queued": ("llamacpp:requests_deferred",),
        "kv_usage": ("llamacpp:kv_cache_usage_ratio",),
    },
    # trtllm-serve's Prometheus endpoint has request histograms only: no running/queued/KV gauges
    "trtllm": {},
}
# vLLM >= 0.8 exposes prefix caching as counters: the hit rate is hits / queries over an interval.
HIT_COUNTERS = {"vllm": ("vllm:prefix_cache_hits", "vllm:prefix_cache_queries")}
# Not exposed by the engines themselves; taken when some exporter on the same endpoint offers it.
GPU_MEMORY_SUFFIXES = ("gpu_memory_used_bytes", "gpu_memory_usage_bytes")
RATIO_FIELDS = ("kv_usage", "cache_hit_rate")  # averaged over label sets (e.g. DP ranks); counts are summed

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text exposition format -> {metric name: [(labels, value), ...]}; bad lines skipped."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))  # float() reads NaN, +Inf, -Inf too
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                  for k, v in _LABEL.findall(m.group(2) or "")}
        out.setdefault(m.group(1), []).append((labels, value))
    return out


def _combine(values: list[float], ratio: bool) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    return fmean(values) if ratio else sum(values)


def _counter(metrics: dict, name: str) -> float | None:
    for candidate in (f"{name}_total", name):
        if candidate in metrics:
            return _combine([v for _, v in metrics[candidate]], ratio=False)
    return None


def extract(metrics: dict, engine: str) -> dict[str, float | None]:
    """One sample's fields (``running``, ``queued``, ``kv_usage``, ``cache_hit_rate``, maybe
    ``gpu_memory``) from parsed metrics; a field the engine does not expose is None."""
    sample: dict[str, float | None] = {}
    for key, names in METRIC_NAMES[engine].items():
        name = next((n for n in names if n in metrics), None)
        sample[key] = _combine([v for _, v in metrics[name]], key in RATIO_FIELDS) if name else None
    sample.setdefault("cache_hit_rate", None)
    for name, series in metrics.items():
        if name.endswith(GPU_MEMORY_SUFFIXES):
            sample["gpu_memory"] = _combine([v for _, v in series], ratio=False)
            break
    return sample


@dataclass
class Telemetry:
    samples: list[dict] = field(default_factory=list)  # t (s since start), running, queued, kv_usage, cache_hit_rate
    engine: str = ""
    note: str = ""
    # Prefix-cache counters at the first and last scrape (vLLM), for the hit rate over the whole window.
    counters_first: dict[str, float] = field(default_factory=dict)
    counters_last: dict[str, float] = field(default_factory=dict)

    def _values(self, key: str) -> list[float]:
        return [s[key] for s in self.samples if s.get(key) is not None]

    def summary(self) -> dict:
        running, queued, kv = self._values("running"), self._values("queued"), self._values("kv_usage")
        hit_rate = self._window_hit_rate()
        if hit_rate is None:
            rates = self._values("cache_hit_rate")
            hit_rate = rates[-1] if rates else None
        out = {
            "num_samples": len(self.samples),
            "peak_running": max(running, default=None),
            "peak_queued": max(queued, default=None),
            "peak_kv_usage": max(kv, default=None),
            "mean_kv_usage": fmean(kv) if kv else None,
            "cache_hit_rate": hit_rate,
        }
        memory = self._values("gpu_memory")
        if memory:
            out["peak_gpu_memory"] = max(memory)
        return out

    def _window_hit_rate(self) -> float | None:
        first, last = self.counters_first, self.counters_last
        if not first or not last:
            return None
        queries = last["queries"] - first["queries"]
        if queries > 0:
            return (last["hits"] - first["hits"]) / queries
        # No lookups while scraping: the engine's lifetime rate, if it has one.
        return last["hits"] / last["queries"] if last["queries"] > 0 else None

    def to_dict(self) -> dict:
        return {"engine": self.engine, "note": self.note, "samples": self.samples, "summary": self.summary()}


class TelemetryScraper:
    """``scraper.start()`` before the benchmark, ``telemetry = scraper.stop()`` after it."""

    def __init__(self, metrics_url: str, engine: str, interval: float = 0.5, timeout: float = 2.0):
        if engine not in METRIC_NAMES:
            raise ValueError(f"engine: no telemetry names for {engine!r}; allowed: {', '.join(METRIC_NAMES)}")
        if interval <= 0:
            raise ValueError(f"interval: must be > 0 seconds, got {interval}")
        self.metrics_url, self.engine, self.interval, self.timeout = metrics_url, engine, interval, timeout
        self._telemetry = Telemetry(engine=engine)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._missing = False  # the endpoint answered 404: it will not appear later
        self._last_error = ""
        self._previous_counters: dict[str, float] | None = None
        self._client: httpx.Client | None = None

    def start(self) -> "TelemetryScraper":
        """Take the first sample now (the baseline for counters, before any load), then poll in a thread."""
        self._started = time.monotonic()
        self._client = httpx.Client(timeout=self.timeout, trust_env=False)
        self._scrape_once(self._client)
        if self._missing:
            self._client.close()
            return self
        self._thread = threading.Thread(target=self._run, name="telemetry-scraper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Telemetry:
        """Stop polling (after one last scrape) and return what was collected."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + self.interval + 1)
            self._thread = None
        telemetry = self._telemetry
        if not telemetry.samples and not telemetry.note:
            telemetry.note = f"no metrics scraped from {self.metrics_url}" + \
                (f": {self._last_error}" if self._last_error else "")
        return telemetry

    def _run(self) -> None:
        client = self._client
        try:
            while not self._stop.wait(self.interval):
                self._scrape_once(client)
                if self._missing:
                    return
            self._scrape_once(client)  # the state at the end of the benchmark
        except Exception as e:  # telemetry must never take the benchmark down
            self._telemetry.note = f"telemetry stopped: {type(e).__name__}: {e}"
        finally:
            client.close()

    def _scrape_once(self, client: httpx.Client) -> None:
        try:
            response = client.get(self.metrics_url)
        except Exception as e:  # connection refused, timeouts, a malformed URL: never raise
            self._last_error = f"{type(e).__name__}: {e}"
            return
        if response.status_code == 404:
            self._missing = True
            hint = " (SGLang serves it only with --enable-metrics)" if self.engine == "sglang" else ""
            self._telemetry.note = f"the engine has no metrics endpoint at {self.metrics_url} (404){hint}"
            return
        if response.status_code != 200:
            self._last_error = f"HTTP {response.status_code}"
            return
        self._record(parse_exposition(response.text))

    def _record(self, metrics: dict) -> None:
        sample = {"t": round(time.monotonic() - self._started, 3), **extract(metrics, self.engine)}
        counters = self._hit_counters(metrics)
        if counters is not None:
            telemetry = self._telemetry
            telemetry.counters_first = telemetry.counters_first or counters
            telemetry.counters_last = counters
            previous = self._previous_counters
            if previous is not None and counters["queries"] > previous["queries"]:
                sample["cache_hit_rate"] = ((counters["hits"] - previous["hits"])
                                            / (counters["queries"] - previous["queries"]))
            self._previous_counters = counters
        self._telemetry.samples.append(sample)

    def _hit_counters(self, metrics: dict) -> dict[str, float] | None:
        names = HIT_COUNTERS.get(self.engine)
        if names is None:
            return None
        hits, queries = _counter(metrics, names[0]), _counter(metrics, names[1])
        if hits is None or queries is None:
            return None
        return {"hits": hits, "queries": queries}
