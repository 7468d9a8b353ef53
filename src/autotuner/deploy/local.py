"""Run each experiment's engine as a local process group (``deployment: local``).

The engine gets its own session, a free port, its GPUs through CUDA_VISIBLE_DEVICES and a log file.
Every way out (failure, timeout, cancel, Ctrl-C, normal stop, interpreter exit) ends the whole group:
SIGTERM, a grace period, then SIGKILL. A tuner killed outright takes its engines with it: each starts
through ``launcher``, which kills its group when the tuner's end of a watch pipe closes. A record on
disk lets the next run reap whatever still escaped.
"""

from __future__ import annotations

import atexit
import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .base import Deployer, Deployment, DeploymentError, Endpoint, LaunchSpec, classify_start_failure, last_lines
from ..engines.launch import argv_with_files
from .processes import start_ticks, terminate_group
from .reaper import EngineRecord, EngineRecords, describe_command, reap_leftovers, safe_name

log = logging.getLogger(__name__)

HEALTH_REQUEST_TIMEOUT = 1.0
_PORT_TAKEN = ("address already in use", "errno 98")
_TAIL_BYTES = 64 * 1024
MIN_GRACE = 0.5  # seconds of SIGTERM grace even past the stop deadline, before SIGKILL
LAUNCHER = Path(__file__).with_name("launcher.py")
FAILED_START_GRACE = 2.0  # an engine that never became ready has nothing to shut down gracefully

# Every running local engine of this process, for the interpreter-exit safety net; and the ports
# handed out to them, so that two engines started at once never get the same one.
_registry_lock = threading.Lock()
_running: set["LocalDeployment"] = set()
_ports: set[int] = set()


def stop_all() -> None:
    """Stop every local engine this process still runs (also registered with atexit)."""
    with _registry_lock:
        running = list(_running)
    for deployment in running:
        deployment.stop()


atexit.register(stop_all)


def read_tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            return last_lines(f.read().decode("utf-8", "replace"), lines)
    except OSError:
        return ""


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def reserve_port(host: str) -> int:
    """A port free on ``host`` now and not handed to another engine of ours; release with release_port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        with _registry_lock:
            if port not in _ports:
                _ports.add(port)
                return port
    raise DeploymentError("unavailable", f"could not find a free port on {host}")


def release_port(port: int) -> None:
    with _registry_lock:
        _ports.discard(port)


def _client_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return "::1" if host == "::" else host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def is_healthy(host: str, port: int, path: str, timeout: float = HEALTH_REQUEST_TIMEOUT) -> bool:
    """GET the health path directly (no proxy from the environment); True on 200."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class LocalDeployment(Deployment):
    def __init__(self, name: str, proc: subprocess.Popen, endpoint: Endpoint, log_path: Path, gpus: list[int],
                 port: int, grace: float, watch_fd: int | None = None):
        self.name, self.proc, self.endpoint, self.log_path, self.gpus = name, proc, endpoint, log_path, gpus
        self.port, self.grace = port, grace
        self.watch_fd = watch_fd  # our end of the launcher's watch pipe: closing it kills the engine's group
        self.pid = proc.pid  # the launcher's, also the process group id: it leads the engine's session
        self.start_ticks = start_ticks(proc.pid)
        self.record_path: Path | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return read_tail(self.log_path, lines)

    def grace_left(self) -> float:
        """The SIGTERM grace of a stop now: ours, cut to the time left before ``stop_deadline``."""
        if self.stop_deadline is None:
            return self.grace
        return max(min(self.grace, self.stop_deadline - time.monotonic()), MIN_GRACE)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            grace = self.grace_left()
            try:
                if terminate_group(self.pid, grace, self.proc, self.start_ticks):
                    log.warning("engine %s ignored SIGTERM for %.3g s and was killed", self.name, grace)
            except Exception as e:  # never raise from stop; the atexit net and the reaper remain
                log.warning("could not stop engine %s (pid %s): %s", self.name, self.pid, e)
            finally:
                self._stopped = True
                self._let_go()
                if self.record_path is not None:
                    EngineRecords.remove(self.record_path)
                with _registry_lock:
                    _running.discard(self)
                    _ports.discard(self.port)

    def _let_go(self) -> None:
        if self.watch_fd is not None:
            try:
                os.close(self.watch_fd)
            except OSError:
                pass
            self.watch_fd = None


def launcher_argv(argv: list[str], watch_fd: int) -> list[str]:
    """``argv`` started through the launcher that kills it when ``watch_fd``'s other end closes."""
    # By path, isolated and without site-packages: it needs only the standard library, starts in a few
    # milliseconds, and ignores whatever the engine's environment says about Python.
    return [sys.executable, "-I", "-S", str(LAUNCHER), "--watch", str(watch_fd), "--", *argv]


def _executable(program: str, search_path: str | None) -> str | None:
    """Why ``program`` cannot be started, or None (the launcher would only fail later, with less to say)."""
    if shutil.which(program, path=search_path) is not None:
        return None
    if os.sep in program and os.path.exists(program):
        return "not executable"
    return "not found"


class LocalDeployer(Deployer):
    leftovers_are_orphans = True  # it reaps only engines whose owner process is gone

    def __init__(self, log_dir: Path, state_dir: Path, host: str = "127.0.0.1", grace: float = 10.0,
                 poll_interval: float = 0.2):
        if grace < 0:
            raise ValueError(f"grace must be >= 0 seconds, got {grace}")
        if not 0 < poll_interval <= 0.25:
            raise ValueError(f"poll_interval must be in (0, 0.25] seconds, got {poll_interval}")
        self.log_dir, self.host, self.grace, self.poll_interval = Path(log_dir), host, grace, poll_interval
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.records = EngineRecords(Path(state_dir))

    # -- public ----------------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{safe_name(name)}.log"

    def deploy(self, spec: LaunchSpec, name: str, gpus: list[int], startup_timeout: float,
               cancel: threading.Event | None = None) -> LocalDeployment:
        if not spec.argv:
            raise ValueError("LaunchSpec.argv is empty: nothing to run")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout}")
        log_path = self.log_path(name)
        with _registry_lock:
            if any(d.log_path == log_path for d in _running):
                raise ValueError(f"an engine named {name!r} is already running")
        log_path.write_bytes(b"")
        deadline = time.monotonic() + startup_timeout
        for attempt in (1, 2):
            deployment, offset = self._start(spec, name, gpus, log_path)
            try:
                failure = self._wait_ready(deployment, spec, deadline, startup_timeout, cancel)
                if failure is None:
                    return deployment
            except BaseException:  # cancel, Ctrl-C: nothing may outlive the failed start
                deployment.stop()
                raise
            deployment.stop_deadline = time.monotonic() + FAILED_START_GRACE
            deployment.stop()
            output = _read_from(log_path, offset)
            if failure == "exited" and attempt == 1 and any(m in output.lower() for m in _PORT_TAKEN):
                self._note(log_path, f"port {deployment.port} was taken before the engine bound it; "
                                     "retrying on another port")
                continue
            raise self._error(failure, deployment, output, startup_timeout)
        raise AssertionError("unreachable")

    def reap_leftovers(self, experiment: str | None = None) -> list[str]:
        with _registry_lock:
            in_use = {d.record_path for d in _running if d.record_path is not None}
        return reap_leftovers(self.records, self.grace, in_use, experiment)

    def stop_all(self) -> None:
        stop_all()

    # -- steps -----------------------------------------------------------------------------------
    def _start(self, spec: LaunchSpec, name: str, gpus: list[int], log_path: Path) -> tuple[LocalDeployment, int]:
        port = reserve_port(self.host)
        host_args = [spec.host_flag, self.host] if spec.host_flag else []
        # per-experiment files (TensorRT-LLM's extra-options YAML) sit next to the log
        engine_argv = argv_with_files(spec.argv, spec.files, self.log_dir, log_path.stem)
        argv = [*engine_argv, *host_args, spec.port_flag, str(port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env,
               "CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))}
        self._note(log_path, f"$ {describe_command(argv, limit=4000)}  "
                             f"(CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']})")
        problem = _executable(argv[0], env.get("PATH"))
        if problem is not None:
            release_port(port)
            raise DeploymentError("unavailable", f"cannot start {spec.argv[0]!r}: {problem}", log_path=log_path)
        watch_read, watch_write = os.pipe()  # both non-inheritable: only the launcher gets its end
        try:
            with open(log_path, "ab") as logfile:  # the child keeps its own descriptor
                offset = logfile.tell()
                proc = subprocess.Popen(launcher_argv(argv, watch_read), stdin=subprocess.DEVNULL, stdout=logfile,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True, close_fds=True,
                                        pass_fds=(watch_read,))
        except OSError as e:
            os.close(watch_write)
            release_port(port)
            raise DeploymentError("unavailable", f"cannot start {spec.argv[0]!r}: {e}",
                                  log_path=log_path) from None
        finally:
            os.close(watch_read)
        deployment = None
        try:
            endpoint = Endpoint(f"http://{_url_host(_client_host(self.host))}:{port}", spec.model_name)
            deployment = LocalDeployment(name, proc, endpoint, log_path, list(gpus), port, self.grace, watch_write)
            with _registry_lock:
                _running.add(deployment)
            try:
                deployment.record_path = self.records.write(
                    EngineRecord.for_process(name, proc.pid, argv, log_path))
            except OSError as e:  # the reaper is a safety net; running without it beats failing
                log.warning("cannot record engine %s in %s: %s", name, self.records.dir, e)
        except BaseException:  # e.g. Ctrl-C right after the fork: the engine must not outlive us
            if deployment is not None:
                deployment.stop()
            else:
                terminate_group(proc.pid, 0.0, proc)
                os.close(watch_write)
                release_port(port)
            raise
        return deployment, offset

    def _wait_ready(self, deployment: LocalDeployment, spec: LaunchSpec, deadline: float,
                    startup_timeout: float, cancel: threading.Event | None) -> str | None:
        """None once the engine answers 200; 'exited' or 'timeout' otherwise. Raises on cancel."""
        host = _client_host(self.host)
        while True:
            if deployment.proc.poll() is not None:
                return "exited"
            if cancel is not None and cancel.is_set():
                raise DeploymentError("cancelled", "cancelled while the engine was starting",
                                      deployment.log_tail(), deployment.log_path)
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if is_healthy(host, deployment.port, spec.health_path, min(HEALTH_REQUEST_TIMEOUT, left)):
                # A 200 from a process that has just died came from someone else on that port.
                return None if deployment.proc.poll() is None else "exited"
            pause = min(self.poll_interval, max(deadline - time.monotonic(), 0))
            if cancel is not None:
                cancel.wait(pause)
            else:
                time.sleep(pause)

    @staticmethod
    def _error(failure: str, deployment: LocalDeployment, output: str, startup_timeout: float) -> DeploymentError:
        tail = last_lines(output, 40)
        reason = classify_start_failure(output)
        if failure == "timeout":
            message = f"the engine was not ready within {startup_timeout:g} s"
            if reason == "oom":
                message += " and its log reports running out of memory"
            else:
                reason = "timeout"
        else:
            what = _exit_description(deployment.proc.returncode)
            message = (f"the engine ran out of memory during start-up and {what}" if reason == "oom"
                       else f"the engine {what} during start-up")
            last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
            if last:
                message += f": {last}"
        return DeploymentError(reason, message, tail, deployment.log_path)

    @staticmethod
    def _note(log_path: Path, text: str) -> None:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(f"[autotuner] {text}\n")
