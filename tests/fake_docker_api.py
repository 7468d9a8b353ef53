"""A fake Docker Engine API on a UNIX socket, enough for the real ``docker`` SDK to run our deployer.

Containers are host subprocesses. An image's entrypoint/cmd plus the container's command give the
in-container argv, which the fake maps to a host command: the engines' launchers become the
simulated engine (``python -m autotuner.sim --personality ...``), and, standing in for the container's
network namespace, ``--host``/``--port`` are rewritten to 127.0.0.1 and the published host port.
An image can instead be given a behaviour: ``http_ok`` (a minimal healthy server), ``oom`` (prints a
CUDA OOM and exits 1), ``crash`` (exits 2), ``never_ready`` (prints a line and sleeps) or
``pull_error`` (its pull fails mid-stream).

Endpoints: /_ping, /version, images/{name}/json, images/create, containers/create, containers/json,
containers/{id}/json|start|stop|logs|wait, DELETE containers/{id}; each also under /v1.NN/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"
LAUNCHERS = {  # in-container argv prefix -> host argv prefix
    ("vllm", "serve"): [sys.executable, "-m", "autotuner.sim", "--personality", "vllm"],
    ("python3", "-m", "sglang.launch_server"): [sys.executable, "-m", "autotuner.sim", "--personality", "sglang"],
    ("python3", "-m", "autotuner.sim"): [sys.executable, "-m", "autotuner.sim"],
}
BEHAVIOURS = {
    "oom": [sys.executable, "-c", "import sys; print('Loading model weights took 1.2 GB'); "
            "print('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB', "
            "file=sys.stderr); sys.exit(1)"],
    # Echoes the token as a careless engine might: the deployer must scrub it from what it saves.
    "crash": [sys.executable, "-c", "import os, sys; print('token in env:', os.environ.get('HF_TOKEN')); "
              "print('ValueError: unsupported flag', file=sys.stderr); sys.exit(2)"],
    "never_ready": [sys.executable, "-c", "import time; print('loading weights', flush=True); time.sleep(120)"],
    # A minimal healthy server on the published port (appended), for tests not about the engine itself.
    "http_ok": [sys.executable, "-c", """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/health", "/v1/models") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
print("server ready", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""],
}


@dataclass
class FakeImage:
    name: str
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    behaviour: str = "run"  # run | http_ok | oom | crash | never_ready | pull_error (fails while pulled)

    def inspect(self) -> dict:
        return {"Id": "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, self.name).hex * 2,
                "RepoTags": [self.name], "Config": {"Entrypoint": self.entrypoint, "Cmd": self.cmd}}


@dataclass
class FakeContainer:
    id: str
    name: str
    body: dict
    image: FakeImage
    log_file: Path
    process: subprocess.Popen | None = None
    host_argv: list[str] = field(default_factory=list)
    started: bool = False
    exit_code: int | None = None

    @property
    def labels(self) -> dict:
        return self.body.get("Labels") or {}

    def status(self) -> str:
        if not self.started:
            return "created"
        if self.process is not None and self.process.poll() is None:
            return "running"
        if self.process is not None and self.exit_code is None:
            self.exit_code = self.process.returncode
        return "exited"

    def inspect(self) -> dict:
        status = self.status()
        host_config = self.body.get("HostConfig") or {}
        return {
            "Id": self.id, "Name": "/" + self.name, "Image": self.image.inspect()["Id"],
            "State": {"Status": status, "Running": status == "running", "ExitCode": self.exit_code or 0,
                      "OOMKilled": False, "Pid": self.process.pid if status == "running" else 0},
            "Config": {"Image": self.body.get("Image"), "Labels": self.labels, "Tty": False,
                       "Cmd": self.body.get("Cmd"), "Entrypoint": self.body.get("Entrypoint"),
                       "Env": self.body.get("Env") or []},
            "HostConfig": host_config,
            "NetworkSettings": {"Ports": host_config.get("PortBindings") or {}},
        }

    def kill(self, grace: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.exit_code = self.process.returncode


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeDockerEngine:
    """``with FakeDockerEngine() as fake: docker.DockerClient(base_url=fake.base_url)``."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="fakedock-"))
        self.socket_path = self.dir / "docker.sock"
        self.base_url = f"unix://{self.socket_path}"
        self.images: dict[str, FakeImage] = {}
        self.pullable: dict[str, FakeImage] = {}  # what /images/create can fetch
        self.containers: dict[str, FakeContainer] = {}
        self.create_calls: list[dict] = []  # {"name": ..., "body": ...} exactly as received
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._server = _UnixHTTPServer(str(self.socket_path), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def add_image(self, name: str, entrypoint=None, cmd=None, behaviour="run", pulled=True) -> FakeImage:
        image = FakeImage(name, entrypoint, cmd, behaviour)
        (self.images if pulled else self.pullable)[name] = image
        return image

    def __enter__(self) -> "FakeDockerEngine":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for container in list(self.containers.values()):
            container.kill(grace=2)
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- container life -------------------------------------------------------------------------
    def _find(self, ref: str) -> FakeContainer | None:
        with self.lock:
            for c in self.containers.values():
                if c.id == ref or c.name == ref or (len(ref) >= 4 and c.id.startswith(ref)):
                    return c
        return None

    def _host_argv(self, container: FakeContainer) -> list[str]:
        body = container.body
        bindings = (body.get("HostConfig") or {}).get("PortBindings") or {}
        if container.image.behaviour == "http_ok":
            return BEHAVIOURS["http_ok"] + [next(iter(bindings.values()))[0]["HostPort"]]
        if container.image.behaviour != "run":
            return BEHAVIOURS[container.image.behaviour]
        entrypoint = body.get("Entrypoint") if body.get("Entrypoint") is not None else container.image.entrypoint
        cmd = body.get("Cmd") if body.get("Cmd") is not None else container.image.cmd
        argv = list(entrypoint or []) + list(cmd or [])
        for prefix, host_prefix in LAUNCHERS.items():
            if tuple(argv[:len(prefix)]) == prefix:
                argv = host_prefix + argv[len(prefix):]
                break
        else:
            raise ValueError(f"the fake cannot run {argv[:3]}")
        for i, arg in enumerate(argv[:-1]):
            if arg == "--host":
                argv[i + 1] = "127.0.0.1"
            elif arg == "--port":
                binding = bindings.get(f"{argv[i + 1]}/tcp")
                if binding:
                    argv[i + 1] = binding[0]["HostPort"]
        return argv

    def _start(self, container: FakeContainer) -> None:
        container.host_argv = self._host_argv(container)
        env = dict(os.environ)
        env.update(item.split("=", 1) for item in container.body.get("Env") or [])
        with container.log_file.open("ab") as out:
            container.process = subprocess.Popen(container.host_argv, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        container.started = True

    def alive_processes(self) -> list[int]:
        return [c.process.pid for c in self.containers.values()
                if c.process is not None and c.process.poll() is None]

    # -- HTTP -------------------------------------------------------------------------------------
    def _handler_class(self):
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet; client_address is '' on a UNIX socket
                pass

            def _reply(self, status: int, payload=None, content_type="application/json") -> None:
                if isinstance(payload, bytes):
                    data = payload
                elif payload is None:
                    data = b""
                else:
                    data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data and self.command != "HEAD":
                    self.wfile.write(data)

            def _reply_chunked(self, status: int, chunks: list[bytes]) -> None:
                """The engine streams progress (pulls) with chunked encoding; the SDK relies on it."""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                path = re.sub(r"^/v\d+\.\d+", "", unquote(url.path))
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                engine.requests.append((method, path))
                try:
                    engine._dispatch(self, method, path, query, body)
                except Exception as e:  # a fake's bug should show up as a 500, not a hang
                    self._reply(500, {"message": f"fake docker: {e!r}"})

            def do_GET(self):
                self._route("GET")

            def do_HEAD(self):
                self._route("HEAD")

            def do_POST(self):
                self._route("POST")

            def do_DELETE(self):
                self._route("DELETE")

        return Handler

    def _dispatch(self, h, method: str, path: str, query: dict, body) -> None:
        if path == "/_ping":
            return h._reply(200, b"OK", "text/plain")
        if path == "/version":
            return h._reply(200, {"Version": "27.0.0-fake", "ApiVersion": API_VERSION,
                                  "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})
        if m := re.fullmatch(r"/images/(.+)/json", path):
            image = self.images.get(m.group(1))
            return h._reply(200, image.inspect()) if image else \
                h._reply(404, {"message": f"No such image: {m.group(1)}"})
        if path == "/images/create" and method == "POST":
            return self._pull(h, query)
        if path == "/containers/create" and method == "POST":
            return self._create(h, query.get("name"), body)
        if path == "/containers/json":
            return self._list(h, query)
        if m := re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", path):
            container = self._find(m.group(1))
            if container is None:
                return h._reply(404, {"message": f"No such container: {m.group(1)}"})
            return self._container_action(h, method, m.group(2) or "", container, query)
        return h._reply(404, {"message": f"fake docker: no route {method} {path}"})

    def _pull(self, h, query: dict) -> None:
        name = query.get("fromImage", "") + (f":{query['tag']}" if query.get("tag") else "")
        image = self.pullable.get(name)
        if image is None:
            return h._reply(404, {"message": f"pull access denied for {name}, repository does not exist"})
        self.images[name] = image
        lines = [{"status": f"Pulling from {query['fromImage']}", "id": query.get("tag", "latest")},
                 {"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "abc"},
                 {"status": "Pull complete", "progressDetail": {}, "id": "abc"},
                 {"status": f"Status: Downloaded newer image for {name}"}]
        if image.behaviour == "pull_error":  # a failure mid-download arrives inside a 200 stream
            lines.insert(2, {"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"})
        h._reply_chunked(200, [json.dumps(line).encode() + b"\r\n" for line in lines])

    def _create(self, h, name: str | None, body: dict) -> None:
        self.create_calls.append({"name": name, "body": body})
        image = self.images.get(body.get("Image", ""))
        if image is None:
            return h._reply(404, {"message": f"No such image: {body.get('Image')}"})
        with self.lock:
            if name and any(c.name == name for c in self.containers.values()):
                return h._reply(409, {"message": f'Conflict. The container name "/{name}" is already in use'})
            cid = uuid.uuid4().hex + uuid.uuid4().hex
            self.containers[cid] = FakeContainer(cid, name or cid[:12], body, image, self.dir / f"{cid}.log")
            self.containers[cid].log_file.touch()
        h._reply(201, {"Id": cid, "Warnings": []})

    def _list(self, h, query: dict) -> None:
        filters = json.loads(query.get("filters") or "{}")
        wanted = filters.get("label", [])
        if isinstance(wanted, dict):  # the API also accepts {"k=v": true}
            wanted = list(wanted)
        out = []
        for c in list(self.containers.values()):
            if query.get("all") not in ("1", "true", "True") and c.status() != "running":
                continue
            if not all(_label_matches(c.labels, w) for w in wanted):
                continue
            out.append({"Id": c.id, "Names": ["/" + c.name], "Image": c.body.get("Image"),
                        "Labels": c.labels, "State": c.status(), "Status": c.status()})
        h._reply(200, out)

    def _container_action(self, h, method: str, action: str, c: FakeContainer, query: dict) -> None:
        if method == "GET" and action == "/json":
            return h._reply(200, c.inspect())
        if method == "POST" and action == "/start":
            if c.status() == "running":
                return h._reply(304)
            self._start(c)
            return h._reply(204)
        if method == "POST" and action == "/stop":
            if c.status() != "running":
                return h._reply(304)
            c.kill(grace=float(query.get("t", 10)))
            return h._reply(204)
        if method == "POST" and action == "/wait":
            if c.process is not None:
                c.process.wait()
            return h._reply(200, {"StatusCode": c.process.returncode if c.process else 0})
        if method == "GET" and action == "/logs":
            lines = c.log_file.read_bytes().splitlines(keepends=True)
            tail = query.get("tail", "all")
            if tail != "all":
                lines = lines[-int(tail):] if int(tail) > 0 else []
            # Non-TTY containers' logs are multiplexed frames: stream type, 3 zero bytes, length.
            return h._reply(200, b"".join(struct.pack(">BxxxL", 1, len(x)) + x for x in lines),
                            "application/vnd.docker.multiplexed-stream")
        if method == "DELETE" and action == "":
            if c.status() == "running" and query.get("force") not in ("1", "true", "True"):
                return h._reply(409, {"message": "You cannot remove a running container. Stop it first."})
            c.kill(grace=0)
            with self.lock:
                self.containers.pop(c.id, None)
            return h._reply(204)
        h._reply(404, {"message": f"fake docker: no route {method} containers/{{id}}{action}"})


def _label_matches(labels: dict, wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
