"""Feed hostile and malformed task files (tests/hostile_cases.py) to `autotuner validate`, `autotuner run`,
`POST /api/tasks` and `POST /api/validate` of a real `autotuner serve`.

Each must be refused (exit 2 / HTTP 4xx, or `valid: false` from /api/validate) naming the field, within
2 s and 200 MB of peak memory, deploying nothing and writing no file (no task saved). Prints one row per
case and entry point: exit code or HTTP status, wall seconds, CPU seconds, memory, first line.
For the CLI, MB is the command's peak RSS; for the API, how much the server's peak RSS grew.
The machine may be shared: wall time then includes waiting for a CPU, which the CPU column does not.

    .venv/bin/python benchmarks/hostile_inputs.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hostile_cases import CASES  # noqa: E402

SECONDS, MEGABYTES = 2.0, 200.0
ENV = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT / "src")}


def refuse(args: list[str], cwd: Path) -> tuple[int, float, float, float, str]:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "autotuner", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and "is invalid" not in ln]
    return (os.waitstatus_to_exitcode(status), seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            (lines[0] if lines else ""))


def _validate_body(content: bytes) -> bytes:
    """``{"yaml": <the file>}``; a file that is not UTF-8 goes in as its raw bytes (refused as such)."""
    try:
        return json.dumps({"yaml": content.decode("utf-8")}).encode()
    except UnicodeDecodeError:
        escaped = content.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
        return b'{"yaml": "' + escaped + b'"}'


def _proc_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post(client: httpx.Client, pid: int, path: str, content: bytes, json_body: bool) -> tuple[int, float, float, float, str]:
    before_mb, before_cpu = _peak_mb(pid), _proc_seconds(pid)
    t0 = time.monotonic()
    ctype = "application/json" if json_body else "application/yaml"
    r = client.post(path, content=content, headers={"content-type": ctype}, params={"simulate": "h100"}
                    if path == "/api/tasks" else None)
    seconds = time.monotonic() - t0
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text}
    refused = r.status_code
    if path == "/api/validate" and r.status_code == 200:
        refused = 200 if not body.get("valid", True) else 0
        body = {"detail": body.get("problems", [])}
    detail = body.get("detail")
    first = detail[0] if isinstance(detail, list) and detail else detail
    line = f"{first.get('loc')}: {first.get('msg')}" if isinstance(first, dict) else str(first)
    return refused, seconds, _proc_seconds(pid) - before_cpu, _peak_mb(pid) - before_mb, line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "autotuner", "serve", "--port", str(port), "--workers", "0",
                             "--db", str(work / "db.sqlite"), "--out", str(work / "runs"), "--log-level", "warning"],
                            cwd=work, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("autotuner serve did not come up")


def row(name: str, entry: str, code: int, seconds: float, cpu: float, mb: float, line: str, ok: bool,
        why: str = "") -> None:
    print(f"{name[:28]:<28} {entry:<13} {code:>4} {seconds:5.2f} {cpu:5.2f} {mb:5.0f}  {line[:64]}"
          + ("" if ok else f"   <-- NOT OK {why}"))


def main() -> int:
    bad = 0
    slow_only = 0
    print(f"{'case':<28} {'entry':<13} {'code':>4} {'wall':>5} {'cpu':>5} {'MB':>5}  first line")
    with tempfile.TemporaryDirectory() as server_tmp:
        server, base = start_server(Path(server_tmp))
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                for name, content, word in CASES:
                    with tempfile.TemporaryDirectory() as tmp:
                        work = Path(tmp)
                        task = work / ("task.json" if name.startswith("JSON") else "task.yaml")
                        task.write_bytes(content)
                        for command in ("validate", "run"):
                            args = [command, str(task)] + (["--simulate", "h100", "--db", str(work / "db.sqlite"),
                                                            "--out", str(work / "runs")] if command == "run" else [])
                            code, seconds, cpu, mb, line = refuse(args, work)
                            written = sorted(p.name for p in work.iterdir() if p != task)
                            right = code == 2 and not written and word.lower() in line.lower() and mb <= MEGABYTES
                            ok = right and seconds <= SECONDS
                            bad += not ok
                            slow_only += right and not ok
                            row(name, command, code, seconds, cpu, mb, line, ok, f"(written: {written})" if written else "")
                    for path in ("/api/tasks", "/api/validate"):
                        body = content if path == "/api/tasks" else _validate_body(content)
                        code, seconds, cpu, mb, line = post(client, server.pid, path, body,
                                                            name.startswith("JSON") or path == "/api/validate")
                        right = (400 <= code < 500 or (path == "/api/validate" and code == 200)) \
                            and word.lower() in line.lower() and mb <= MEGABYTES
                        ok = right and seconds <= SECONDS
                        bad += not ok
                        slow_only += right and not ok
                        row(name, path.removeprefix("/api/"), code, seconds, cpu, mb, line, ok)
                saved = client.get("/api/tasks").json()["total"]
        finally:
            server.terminate()
            server.wait(20)
        runs = Path(server_tmp) / "runs"
        written = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
    total = 4 * len(CASES)
    print(f"\n{len(CASES)} cases x 4 entry points: {total - bad} refused as required, {bad} not "
          f"({slow_only} of those only slower than {SECONDS:g} s wall); tasks saved by the server: {saved}; "
          f"files written by it: {len(written)}")
    return 1 if bad or saved or written else 0


if __name__ == "__main__":
    raise SystemExit(main())
