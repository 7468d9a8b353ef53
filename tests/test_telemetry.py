"""Engine telemetry scraped from a fake Prometheus /metrics endpoint whose values change per request."""

from __future__ import annotations

import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from autotuner.bench.telemetry import Telemetry, TelemetryScraper, extract, parse_exposition


class FakeMetrics:
    """Serves ``payloads`` one per request (the last one repeats); ``status`` replaces them if set."""

    def __init__(self, payloads: list[str], status: int = 200):
        self.payloads, self.status, self.served = payloads, status, 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/metrics" or fake.status != 200:
                    self.send_response(404 if self.path != "/metrics" else fake.status)
                    self.end_headers()
                    fake.served += 1
                    return
                body = fake.payloads[min(fake.served, len(fake.payloads) - 1)].encode()
                fake.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def scrape_all(fake: FakeMetrics, engine: str) -> Telemetry:
    """Run the scraper until every payload was served, then stop it (the final scrape repeats the last)."""
    scraper = TelemetryScraper(fake.url, engine, interval=0.02).start()
    deadline = time.monotonic() + 10
    while fake.served < len(fake.payloads) and time.monotonic() < deadline:
        time.sleep(0.01)
    return scraper.stop()


def sglang_payload(running, queued, usage, hit) -> str:
    return f"""# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{{model_name="m"}} {running}
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{{model_name="m"}} {queued}
sglang:token_usage{{model_name="m"}} {usage}
sglang:cache_hit_rate{{model_name="m"}} {hit}
sglang:gen_throughput{{model_name="m"}} 123.0
"""


def test_sglang_series_and_summary():
    fake = FakeMetrics([sglang_payload(0, 0, 0.0, 0.0), sglang_payload(8, 3, 0.42, 0.5),
                        sglang_payload(16, 9, 0.91, 0.7), sglang_payload(2, 0, 0.30, 0.75)])
    try:
        telemetry = scrape_all(fake, "sglang")
    finally:
        fake.close()
    running = [s["running"] for s in telemetry.samples]
    assert running[:4] == [0, 8, 16, 2] and all(r == 2 for r in running[4:])
    assert telemetry.samples[2] == {"t": telemetry.samples[2]["t"], "running": 16, "queued": 9,
                                    "kv_usage": 0.91, "cache_hit_rate": 0.7}
    times = [s["t"] for s in telemetry.samples]
    assert times == sorted(times)
    summary = telemetry.summary()
    assert summary["peak_running"] == 16 and summary["peak_queued"] == 9
    assert summary["peak_kv_usage"] == 0.91
    kv = [s["kv_usage"] for s in telemetry.samples]
    assert summary["mean_kv_usage"] == pytest.approx(sum(kv) / len(kv))
    assert summary["cache_hit_rate"] == 0.75
    assert summary["num_samples"] == len(telemetry.samples) and telemetry.note == ""


def vllm_payload(running, waiting, usage, hits, queries) -> str:
    return f"""# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="m"}} {running}
vllm:num_requests_waiting{{engine="0",model_name="m"}} {waiting}
vllm:kv_cache_usage_perc{{engine="0",model_name="m"}} {usage}
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{{engine="0",model_name="m"}} {hits}
vllm:prefix_cache_queries_total{{engine="0",model_name="m"}} {queries}
vllm:prefix_cache_queries_created{{engine="0",model_name="m"}} 1.7e9
"""


def test_vllm_counters_give_interval_and_window_hit_rates():
    fake = FakeMetrics([vllm_payload(0, 0, 0.0, 0, 0), vllm_payload(4, 1, 0.25, 50, 100),
                        vllm_payload(10, 6, 0.8, 250, 300), vllm_payload(3, 0, 0.5, 250, 300)])
    try:
        telemetry = scrape_all(fake, "vllm")
    finally:
        fake.close()
    rates = [s["cache_hit_rate"] for s in telemetry.samples]
    assert rates[:4] == [None, 0.5, 1.0, None]  # no queries in the last interval: no rate
    summary = telemetry.summary()
    assert summary["cache_hit_rate"] == pytest.approx(250 / 300)  # over the whole window
    assert (summary["peak_running"], summary["peak_queued"], summary["peak_kv_usage"]) == (10, 6, 0.8)


def test_older_vllm_names():
    text = ("vllm:num_requests_running 5\nvllm:num_requests_waiting 2\n"
            "vllm:gpu_cache_usage_perc 0.66\nvllm:gpu_prefix_cache_hit_rate 0.4\n")
    assert extract(parse_exposition(text), "vllm") == {"running": 5, "queued": 2, "kv_usage": 0.66,
                                                       "cache_hit_rate": 0.4}


def test_llamacpp_names():
    text = ("# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 3\n"
            "llamacpp:requests_deferred 1\nllamacpp:kv_cache_usage_ratio 0.125\n")
    assert extract(parse_exposition(text), "llamacpp") == {"running": 3, "queued": 1, "kv_usage": 0.125,
                                                           "cache_hit_rate": None}


def test_parser_labels_escapes_timestamps_and_label_sets():
    text = r'''# HELP x a "help" line
vllm:num_requests_running{engine="0",note="a \"q\" } brace"} 3 1700000000000
vllm:num_requests_running{engine="1"} 4
vllm:kv_cache_usage_perc{engine="0"} 0.2
vllm:kv_cache_usage_perc{engine="1"} 0.6
vllm:num_requests_waiting NaN
garbage line without value
other_metric +Inf
some_gpu_memory_used_bytes{gpu="0"} 1000
some_gpu_memory_used_bytes{gpu="1"} 2000
'''
    metrics = parse_exposition(text)
    assert metrics["vllm:num_requests_running"][0] == ({"engine": "0", "note": 'a "q" } brace'}, 3.0)
    assert math.isinf(metrics["other_metric"][0][1])
    sample = extract(metrics, "vllm")
    assert sample["running"] == 7  # counts add up across data-parallel engines
    assert sample["kv_usage"] == pytest.approx(0.4)  # ratios average
    assert sample["queued"] is None  # NaN only
    assert sample["gpu_memory"] == 3000


def test_missing_endpoint_gives_empty_telemetry_with_note():
    fake = FakeMetrics([""], status=404)
    try:
        telemetry = scrape_all(fake, "sglang")
        served = fake.served
    finally:
        fake.close()
    assert telemetry.samples == [] and "404" in telemetry.note and "--enable-metrics" in telemetry.note
    assert served == 1  # a 404 is final: no more polling
    assert telemetry.summary()["peak_running"] is None and telemetry.summary()["cache_hit_rate"] is None


def test_unreachable_endpoint_never_raises():
    fake = FakeMetrics([""])
    url = fake.url
    fake.close()  # nothing listens there any more
    scraper = TelemetryScraper(url, "vllm", interval=0.02).start()
    time.sleep(0.1)
    telemetry = scraper.stop()
    assert telemetry.samples == [] and "no metrics scraped" in telemetry.note
    assert telemetry.to_dict()["summary"]["num_samples"] == 0


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="engine: .*allowed: sglang, vllm, llamacpp"):
        TelemetryScraper("http://127.0.0.1:1/metrics", "tgi")
    with pytest.raises(ValueError, match="interval"):
        TelemetryScraper("http://127.0.0.1:1/metrics", "vllm", interval=0)


@pytest.mark.parametrize("personality", ["sglang", "vllm"])
def test_scrapes_the_simulated_engine(personality):
    pytest.importorskip("autotuner.sim.cli")
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model_flag = ["--model-path", "Qwen/Qwen3-0.6B"] if personality == "sglang" else ["Qwen/Qwen3-0.6B"]
    proc = subprocess.Popen([sys.executable, "-m", "autotuner.sim", "--personality", personality,
                             "--startup-seconds", "0", *model_flag, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(trust_env=False, timeout=10) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if http.get(f"{base}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            scraper = TelemetryScraper(f"{base}/metrics", personality, interval=0.05).start()
            prompt = " ".join(["word"] * 64)
            for _ in range(2):  # the same prompt twice: the second reuses the first's prefix
                response = http.post(f"{base}/v1/completions",
                                     json={"model": "Qwen/Qwen3-0.6B", "prompt": prompt, "max_tokens": 4})
                assert response.status_code == 200
            telemetry = scraper.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert telemetry.samples and telemetry.note == ""
    last = telemetry.samples[-1]
    assert last["running"] == 0 and last["queued"] == 0 and 0 <= last["kv_usage"] <= 1
    summary = telemetry.summary()
    assert summary["cache_hit_rate"] is not None and 0 <= summary["cache_hit_rate"] <= 1


def test_malformed_url_is_a_note_not_an_exception():
    telemetry = TelemetryScraper("http://[::1/metrics", "sglang", interval=0.02).start().stop()
    assert telemetry.samples == [] and "no metrics scraped" in telemetry.note
