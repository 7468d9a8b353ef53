"""The simulated engine's HTTP server end to end: ``python -m autotuner.sim`` on a free port."""

import json
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from autotuner.sim import cli

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SMALL = "meta-llama/Llama-3.2-1B-Instruct"  # fast steps keep these tests short
STARTUP_S = 0.6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "autotuner.sim", *args, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def health_codes(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> list[int]:
    """Poll /health until 200; the status codes seen."""
    codes: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            codes.append(httpx.get(f"{url}/health", timeout=2).status_code)
            if codes[-1] == 200:
                return codes
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"not healthy in {timeout}s: {codes}")


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Wait for a process that should exit by itself."""
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def sglang():
    proc, url = start(["--personality", "sglang", "--startup-seconds", str(STARTUP_S), "--model-path", SMALL,
                       "--context-length", "4096", "--seed", "7"])
    codes = health_codes(url, proc)
    yield url, codes
    code, out, _ = stop(proc)
    assert code == 0
    assert "The server is fired up and ready to roll!" in out


@pytest.fixture(scope="module")
def vllm():
    proc, url = start(["--personality", "vllm", "--startup-seconds", "0.2", SMALL, "--served-model-name", "llama",
                       "--max-model-len", "4096"])
    health_codes(url, proc)
    yield url
    code, out, _ = stop(proc)
    assert code == 0
    assert "Application startup complete." in out


def sse_events(response: httpx.Response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_health_is_503_while_starting_then_200(sglang):
    _, codes = sglang
    assert codes[-1] == 200 and 503 in codes


def test_models_lists_the_served_name(sglang, vllm):
    assert httpx.get(f"{sglang[0]}/v1/models").json()["data"][0]["id"] == SMALL
    card = httpx.get(f"{vllm}/v1/models").json()["data"][0]
    assert card["id"] == "llama" and card["max_model_len"] == 4096


def test_completion_counts_words_and_emits_max_tokens(sglang):
    url = sglang[0]
    body = httpx.post(f"{url}/v1/completions", json={"prompt": "one two three four five", "max_tokens": 12,
                                                     "ignore_eos": True}).json()
    assert body["object"] == "text_completion"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17}
    assert len(body["choices"][0]["text"].split()) == 12 and body["choices"][0]["text"].endswith(" ")
    default = httpx.post(f"{url}/v1/completions", json={"prompt": "hello"}).json()
    assert default["usage"]["completion_tokens"] == 16


def test_streamed_completion_has_one_chunk_per_token_and_usage_last(sglang):
    url = sglang[0]
    with httpx.stream("POST", f"{url}/v1/completions",
                      json={"prompt": "a b c", "max_tokens": 9, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events[-2]["usage"] == {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}
    texts = [e["choices"][0]["text"] for e in events[:-2] if e["choices"] and e["choices"][0]["text"]]
    assert len(texts) == 9 and all(len(t.split()) == 1 for t in texts)
    whole = httpx.post(f"{url}/v1/completions", json={"prompt": "a b c", "max_tokens": 9}).json()
    assert "".join(texts) == whole["choices"][0]["text"]  # deterministic for prompt and seed


def test_chat_stream_and_whole(sglang):
    url = sglang[0]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "tell me a story"}]
    whole = httpx.post(f"{url}/v1/chat/completions", json={"messages": messages, "max_completion_tokens": 6}).json()
    assert whole["object"] == "chat.completion"
    assert whole["usage"] == {"prompt_tokens": 6, "completion_tokens": 6, "total_tokens": 12}
    assert len(whole["choices"][0]["message"]["content"].split()) == 6
    with httpx.stream("POST", f"{url}/v1/chat/completions",
                      json={"messages": messages, "max_tokens": 6, "stream": True,
                            "stream_options": {"include_usage": True}}) as response:
        events = sse_events(response)
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == whole["choices"][0]["message"]["content"]
    assert events[-2]["usage"]["completion_tokens"] == 6 and events[-1] == "[DONE]"
    default = httpx.post(f"{url}/v1/chat/completions", json={"messages": messages}).json()
    assert default["usage"]["completion_tokens"] == 256


@pytest.mark.parametrize("path, body, words", [
    ("/v1/completions", {"max_tokens": 5}, ["prompt"]),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 0}, ["max_tokens", ">= 1"]),
    ("/v1/chat/completions", {"messages": "hi"}, ["messages"]),
    ("/v1/completions", {"prompt": "x " * 100, "max_tokens": 4000}, ["4096", "4100"]),
])
def test_bad_requests_get_400_with_a_message(sglang, path, body, words):
    response = httpx.post(f"{sglang[0]}{path}", json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert all(w in message for w in words), message


def test_invalid_json_and_unknown_model(sglang, vllm):
    assert httpx.post(f"{sglang[0]}/v1/completions", content=b"{nope").status_code == 400
    response = httpx.post(f"{vllm}/v1/completions", json={"model": "other", "prompt": "hi"})
    assert response.status_code == 404 and "other" in response.json()["error"]["message"]
    ok = httpx.post(f"{vllm}/v1/completions", json={"model": "llama", "prompt": "hi", "max_tokens": 2})
    assert ok.status_code == 200


def metric_values(url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name.split("{")[0]] = float(value)
    return values


def test_metrics_use_each_engines_names(sglang, vllm):
    text = httpx.get(f"{sglang[0]}/metrics").text
    assert "# TYPE sglang:num_running_reqs gauge" in text
    for name in ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage", "sglang:cache_hit_rate",
                 "sglang:gen_throughput", "sglang:prompt_tokens_total", "sglang:generation_tokens_total"):
        assert name in metric_values(sglang[0])
    before = metric_values(vllm)
    httpx.post(f"{vllm}/v1/completions", json={"prompt": "w " * 40, "max_tokens": 3})
    after = metric_values(vllm)
    assert after["vllm:generation_tokens_total"] == before["vllm:generation_tokens_total"] + 3
    assert after["vllm:prompt_tokens_total"] == before["vllm:prompt_tokens_total"] + 40
    assert after["vllm:prefix_cache_queries_total"] > before["vllm:prefix_cache_queries_total"]
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:prefix_cache_hits_total", "vllm:num_preemptions_total"):
        assert name in after
    assert 'model_name="llama"' in httpx.get(f"{vllm}/metrics").text


def test_a_client_that_leaves_aborts_its_request(sglang):
    url = sglang[0]
    with httpx.stream("POST", f"{url}/v1/completions",
                      json={"prompt": "go on", "max_tokens": 3000, "stream": True}) as response:
        lines = response.iter_lines()  # kept open: leaving a for loop over it would close the connection
        while not next(lines).startswith("data: "):
            pass
        assert metric_values(url)["sglang:num_running_reqs"] == 1
    deadline = time.monotonic() + 5
    while metric_values(url)["sglang:num_running_reqs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric_values(url)["sglang:num_running_reqs"] == 0


def test_out_of_memory_fails_before_binding():
    proc, url = start(["--model-path", LLAMA, "--mem-fraction-static", "0.99"])
    code, out, err = finish(proc)
    assert code == 1 and "out of memory" in err
    assert "Uvicorn running" not in out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=1)


@pytest.mark.parametrize("argv, phrase", [
    (["--model-path", LLAMA, "--mem-fraction-static", "0.1"], "Not enough memory"),
    (["--personality", "vllm", LLAMA, "--gpu-memory-utilization", "0.2"], "No available memory for the cache blocks"),
])
def test_too_little_memory_fails_too(argv, phrase, capsys):
    assert cli.main(argv) == 1
    assert phrase in capsys.readouterr().err


def test_port_in_use_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "autotuner.sim", "--model-path", LLAMA, "--port", str(port),
                                 "--startup-seconds", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        code, _, err = finish(proc)
    assert code == 1 and "address already in use" in err.lower()
