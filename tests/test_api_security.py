"""The API's gate: the token on every path but /health, loopback Host names, bounded and well-formed bodies."""

import json
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from autotuner.api.app import create_app
from autotuner.api.auth import host_name, is_loopback

from .api_fakes import task_doc
from .serve_support import cli, free_port, process

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_loopback_forms_are_recognised():
    for host in ("127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "10.0.0.1", "::", "evil.example", "localhost.evil.example", "128.0.0.1"):
        assert not is_loopback(host), host
    assert host_name("[::1]:8000") == "::1"
    assert host_name("127.0.0.2:8000") == "127.0.0.2"
    assert host_name("localhost") == "localhost"
    assert host_name("evil.example:80") == "evil.example"


def test_with_a_token_every_path_but_health_needs_it(store, tmp_path):
    with TestClient(create_app(store, workers=0, token=TOKEN, out_dir=tmp_path)) as c:
        task_id = c.post("/api/tasks", json=task_doc(), headers=AUTH).json()["id"]
        reads = ["/api/tasks", f"/api/tasks/{task_id}", f"/api/tasks/{task_id}/experiments",
                 f"/api/tasks/{task_id}/results", f"/api/tasks/{task_id}/export", "/api/experiments/1",
                 f"/api/tasks/{task_id}/events", "/", f"/tasks/{task_id}", "/openapi.json", "/docs",
                 "/static/task.js", "/vendor/plotly.min.js"]
        for path in reads:
            r = c.get(path)
            assert r.status_code == 401, (path, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
            assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
        assert c.post("/api/validate", json={"yaml": "name: x"}).status_code == 401
        assert c.get("/health").status_code == 200
        assert c.get("/api/tasks", headers=AUTH).status_code == 200
        assert c.get(f"/api/tasks/{task_id}", headers=AUTH).json()["spec"]["name"] == task_doc()["name"]
        # the web UI signs in with a cookie; a browser asking for a page gets the sign-in form
        page = c.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401 and "autotuner_token" in page.text and "<form" in page.text
        c.cookies.set("autotuner_token", TOKEN)
        assert c.get("/").status_code == 200
        assert c.get(f"/api/tasks/{task_id}/results").status_code == 200


def test_without_a_token_reads_and_writes_are_open_on_loopback(store, tmp_path):
    with TestClient(create_app(store, workers=0, out_dir=tmp_path)) as c:
        assert c.post("/api/tasks", json=task_doc()).status_code == 201
        assert c.get("/api/tasks").status_code == 200 and c.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("base", ["http://127.0.0.1:8000", "http://127.0.0.2:8000", "http://[::1]:8000",
                                  "http://localhost:8000", "http://localhost"])
def test_a_loopback_server_answers_every_loopback_name(store, tmp_path, base):
    with TestClient(create_app(store, workers=0, out_dir=tmp_path, loopback_only=True), base_url=base) as c:
        assert c.get("/api/tasks").status_code == 200
        netloc = base.split("://")[1]
        assert c.post("/api/tasks", json=task_doc(), headers={"Origin": f"http://{netloc}"}).status_code == 201
        r = c.get("/api/tasks", headers={"Host": "rebound.evil.example:8000"})
        assert r.status_code == 400 and r.json()["detail"][0]["loc"] == "header.host"
        r = c.post("/api/validate", json={"yaml": "name: x"}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["detail"][0]["loc"] == "header.origin"


def test_bodies_over_the_limit_deep_or_not_utf8_are_refused(store, tmp_path):
    with TestClient(create_app(store, workers=0, out_dir=tmp_path)) as c:
        big = b"x" * 1_100_000
        for path in ("/api/tasks", "/api/validate"):
            r = c.post(path, content=big, headers={"content-type": "application/json"})
            assert r.status_code == 413 and "limit" in r.json()["detail"][0]["msg"], path

            def chunks():  # no Content-Length: counted while it arrives
                for _ in range(20):
                    yield b" " * 100_000

            assert c.post(path, content=chunks(), headers={"content-type": "application/json"}).status_code == 413
            deep = "[" * 5000 + "]" * 5000
            for body in (deep, json.dumps({"yaml": None, "document": json.loads("[" * 40 + "]" * 40)})):
                r = c.post(path, content=body, headers={"content-type": "application/json"})
                assert r.status_code == 422 and "deep" in r.text, (path, r.text)
            r = c.post(path, content=b'{"yaml": "name: \xff\xfe"}', headers={"content-type": "application/json"})
            assert r.status_code == 422 and "UTF-8" in r.text, (path, r.text)
        r = c.post("/api/validate", json={"yaml": "a: " + "[" * 5000 + "]" * 5000})
        assert r.status_code == 200 and not r.json()["valid"] and "deep" in r.text
        r = c.post("/api/tasks", content=b"name: \xff\xfe", headers={"content-type": "application/yaml"})
        assert r.status_code == 422 and "UTF-8" in r.text
        assert c.get("/api/tasks").json()["total"] == 0  # nothing was saved


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def _server(tmp_path: Path, host: str, env: dict[str, str] | None = None):
    port = free_port()
    argv = cli("serve", "--host", host, "--port", str(port), "--db", str(tmp_path / "db.sqlite"), "--workers", "0",
               "--out", str(tmp_path / "runs"), "--log-level", "warning")
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    with process(argv, tmp_path / "serve.log", env) as proc:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        yield base, proc, port


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_real_server_on_every_loopback_form_checks_the_host_header(tmp_path, host):
    if ":" in host and not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    with _server(tmp_path, host) as (base, _proc, port):
        assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 200
        r = httpx.get(f"{base}/api/tasks", headers={"Host": f"rebound.evil.example:{port}"}, timeout=10)
        assert r.status_code == 400


@pytest.mark.slow
def test_real_server_refuses_a_300_mb_body_without_buffering_it(tmp_path):
    with _server(tmp_path, "127.0.0.1") as (base, proc, port):
        before = _vm_hwm_mb(proc.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # a declared 300 MB: refused at once
            s.sendall(b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 300000000\r\n\r\n{")
            assert s.recv(4096).startswith(b"HTTP/1.1 413")
        # chunked, no length declared: the server answers after the first megabyte and hangs up
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /api/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 1_000_000 + b" " * 1_000_000 + b"\r\n"
            sent = 0
            try:
                while sent < 300:
                    s.sendall(chunk)
                    sent += 1
            except OSError:
                pass  # the server closed the connection once it had answered
            reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < 300, "the server read the whole body"
        assert _vm_hwm_mb(proc.pid) - before < 100


@pytest.mark.slow
def test_real_server_off_loopback_with_a_token_guards_reads(tmp_path):
    with _server(tmp_path, "0.0.0.0", {"AUTOTUNER_TOKEN": TOKEN}) as (_base, _proc, port):
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 401
        assert httpx.get(f"{base}/api/tasks", headers=AUTH, timeout=10).status_code == 200
        assert httpx.get(f"{base}/health", headers={"Host": "tuner.example.com"}, timeout=10).status_code == 200
