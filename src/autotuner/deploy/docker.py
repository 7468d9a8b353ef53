"""Run each experiment's engine in a Docker container (``deployment: docker``) via the Docker SDK.

The container publishes the engine's port on 127.0.0.1 only, gets its GPUs through a device
request, and carries labels so that containers left behind by a killed run can be found and removed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .base import (Deployer, Deployment, DeploymentError, Endpoint, LaunchSpec, classify_start_failure,
                   last_lines, mentions_oom)
from .local import is_healthy
from .docker_images import ContainerPlan, image_ref, mount_files, plan_container, scrub, split_repository_tag

log = logging.getLogger(__name__)

MANAGED_LABEL = "autotuner.managed"
TASK_LABEL = "autotuner.task"
EXPERIMENT_LABEL = "autotuner.experiment"
POLL_INTERVAL = 0.25
_DOCKER_OPTIONS = ("image", "image_tag", "shm_size", "ipc_host", "hf_cache", "stop_timeout")


def _docker_module():
    try:
        import docker
    except ImportError as e:  # the SDK is an optional dependency
        raise DeploymentError("unavailable", "the docker Python package is not installed "
                              "(pip install 'docker>=7.1,<8')") from e
    return docker


def connect():
    """A Docker client from the environment (DOCKER_HOST etc.); DeploymentError 'unavailable' if none answers."""
    docker = _docker_module()
    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as e:  # DockerException, connection errors: all mean "no engine here"
        raise DeploymentError("unavailable", f"cannot reach a Docker Engine ({_describe_host()}): {e}. "
                              "Start Docker, or point DOCKER_HOST at a running engine.") from e


def _describe_host() -> str:
    return f"DOCKER_HOST={os.environ['DOCKER_HOST']}" if os.environ.get("DOCKER_HOST") \
        else "unix:///var/run/docker.sock"


def docker_available(client=None) -> tuple[bool, str]:
    """Whether a Docker Engine answers, with its version or the reason it does not."""
    try:
        client = client or connect()
        info = client.version()
        return True, f"Docker Engine {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"
    except DeploymentError as e:
        return False, e.message
    except Exception as e:
        return False, f"the Docker Engine did not answer: {e}"


def classify_exit(output: str, oom_killed: bool = False) -> str:
    """Like the local deployer's rule, plus Docker's own record of an OOM kill."""
    return "oom" if oom_killed else classify_start_failure(output)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def container_name(task: str, experiment: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", f"autotuner-{task}-{experiment}")[:200]


def _healthy(port: int, path: str, timeout: float) -> bool:
    return is_healthy("127.0.0.1", port, path, timeout)


class _ContainerExited(Exception):
    def __init__(self, exit_code, oom_killed: bool):
        super().__init__(f"exited with code {exit_code}")
        self.exit_code, self.oom_killed = exit_code, oom_killed


class DockerDeployment(Deployment):
    def __init__(self, container, endpoint: Endpoint, log_path: Path, gpus: list[int],
                 secrets: list[str], stop_timeout: float):
        self.container, self.endpoint, self.log_path, self.gpus = container, endpoint, log_path, gpus
        self._secrets, self._stop_timeout = secrets, stop_timeout
        self._lock = threading.Lock()
        self._stopped = False

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        teardown(self.container, self.log_path, self._secrets, self._stop_timeout)

    def alive(self) -> bool:
        try:
            self.container.reload()
        except Exception:  # the daemon did not answer: no evidence that the engine is gone
            return True
        return self.container.status in ("running", "restarting")

    def log_tail(self, lines: int = 40) -> str:
        if not self._stopped:
            try:
                raw = self.container.logs(tail=lines)
                return scrub(raw.decode("utf-8", "replace"), self._secrets).rstrip("\n")
            except Exception:
                pass
        try:
            return last_lines(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""


def teardown(container, log_path: Path, secrets: list[str], stop_timeout: float) -> str:
    """Stop, save the output to the log file, remove. Never raises; returns the container's output."""
    output = ""
    try:
        container.stop(timeout=int(max(stop_timeout, 0)))
    except Exception as e:
        log.debug("stopping container %s: %s", container.id, e)
    try:
        output = scrub(container.logs().decode("utf-8", "replace"), secrets)
    except Exception as e:
        output = ""
        log.debug("reading logs of container %s: %s", container.id, e)
    try:
        with log_path.open("a") as f:
            f.write("# --- container output ---\n" + output)
    except OSError as e:
        log.warning("cannot write %s: %s", log_path, e)
    try:
        container.remove(force=True)
    except Exception as e:
        log.warning("removing container %s failed: %s", container.id, e)
    return output


class DockerDeployer(Deployer):
    def __init__(self, log_dir: Path, task_name: str, images: dict[str, str] | None = None,
                 hf_cache: Path | None = None, shm_size: str = "16g", client=None,
                 ipc_host: bool = False, stop_timeout: float = 10.0):
        self.log_dir, self.task_name = Path(log_dir), task_name
        self.images = dict(images or {})
        self.hf_cache, self.shm_size, self.ipc_host = hf_cache, shm_size, ipc_host
        self.stop_timeout = stop_timeout
        self._client = client

    @classmethod
    def from_task(cls, task, log_dir: Path, client=None) -> "DockerDeployer":
        """From a Task's ``docker:`` options (image, image_tag, shm_size, ipc_host, hf_cache, stop_timeout)."""
        opts: dict[str, Any] = dict(task.docker or {})
        unknown = sorted(set(opts) - set(_DOCKER_OPTIONS))
        if unknown:
            raise ValueError(f"docker: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(_DOCKER_OPTIONS)}")
        image = image_ref(task.engine, task.engine_version, opts.get("image"), opts.get("image_tag"))
        return cls(log_dir, task.name, images={task.engine: image},
                   hf_cache=Path(opts["hf_cache"]) if opts.get("hf_cache") else None,
                   shm_size=str(opts.get("shm_size", "16g")), client=client,
                   ipc_host=bool(opts.get("ipc_host", False)),
                   stop_timeout=float(opts.get("stop_timeout", 10.0)))

    def client(self):
        if self._client is None:
            self._client = connect()
        return self._client

    def image_for(self, engine: str) -> str:
        return self.images.get(engine) or image_ref(engine)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def deploy(self, spec: LaunchSpec, name: str, gpus: list[int], startup_timeout: float,
               cancel: threading.Event | None = None) -> Deployment:
        docker = _docker_module()
        client = self.client()
        plan = plan_container(spec, self.image_for(spec.engine), self.hf_cache)
        secrets = plan.secrets()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        plan = mount_files(plan, spec, self.log_dir, name)  # e.g. TensorRT-LLM's extra-options YAML
        host_port = free_port()
        log_path.write_text(f"# container {container_name(self.task_name, name)} gpus={gpus} "
                            f"port=127.0.0.1:{host_port}\n# {json.dumps(plan.redacted())}\n")
        try:
            self._ensure_image(client, plan.image, log_path, cancel)
            container = self._create(client, plan, name, gpus, host_port, spec.container_port)
        except DeploymentError as e:
            e.log_path = log_path
            raise
        except docker.errors.DockerException as e:
            raise DeploymentError("unavailable", scrub(f"cannot create the container: {e}", secrets),
                                  log_path=log_path) from e
        except Exception as e:  # e.g. the engine went away mid-call
            raise DeploymentError("unavailable", scrub(f"Docker Engine error: {e}", secrets),
                                  log_path=log_path) from e
        try:
            container.start()
            self._wait_ready(container, host_port, spec.health_path, startup_timeout, cancel)
        except _ContainerExited as exited:
            output = teardown(container, log_path, secrets, self.stop_timeout)
            tail = last_lines(output, 40)
            message = f"the container exited with code {exited.exit_code} before the engine was ready"
            last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
            raise DeploymentError(classify_exit(output, exited.oom_killed),
                                  message + (f": {last}" if last else ""), tail, log_path) from None
        except DeploymentError as e:  # timeout, cancelled
            output = teardown(container, log_path, secrets, self.stop_timeout)
            reason, message = e.reason, e.message
            if reason == "timeout" and mentions_oom(output):  # same rule as the local deployer
                reason, message = "oom", message + " and its log reports running out of memory"
            raise DeploymentError(reason, message, last_lines(output, 40), log_path) from None
        except Exception as e:
            teardown(container, log_path, secrets, self.stop_timeout)
            raise DeploymentError("unavailable", scrub(f"cannot start the container: {e}", secrets),
                                  log_path=log_path) from e
        except BaseException:
            teardown(container, log_path, secrets, self.stop_timeout)
            raise
        return DockerDeployment(container, Endpoint(f"http://127.0.0.1:{host_port}", spec.model_name),
                                log_path, list(gpus), secrets, self.stop_timeout)

    def _ensure_image(self, client, image: str, log_path: Path, cancel: threading.Event | None) -> None:
        docker = _docker_module()
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        repo, tag = split_repository_tag(image)
        with log_path.open("a") as f:
            f.write(f"# pulling {image}\n")
            last_written = 0.0
            try:
                for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
                    if cancel is not None and cancel.is_set():
                        raise DeploymentError("cancelled", f"cancelled while pulling {image}")
                    if "error" in event:
                        raise DeploymentError("unavailable", f"cannot pull image {image}: {event['error']}")
                    # Progress ticks arrive many times a second: keep status changes, and a tick every 5 s.
                    ticking = bool(event.get("progressDetail"))
                    if not ticking or time.monotonic() - last_written > 5:
                        f.write(" ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k)) + "\n")
                        f.flush()
                        last_written = time.monotonic() if ticking else last_written
            except docker.errors.DockerException as e:
                raise DeploymentError("unavailable", f"cannot pull image {image}: {e}") from e

    def _create(self, client, plan: ContainerPlan, name: str, gpus: list[int], host_port: int,
                container_port: int):
        docker = _docker_module()
        kwargs: dict[str, Any] = dict(
            command=plan.command, environment=plan.environment, volumes=plan.volumes,
            ports={f"{container_port}/tcp": ("127.0.0.1", host_port)},
            labels={TASK_LABEL: self.task_name, EXPERIMENT_LABEL: name, MANAGED_LABEL: "true"},
            name=container_name(self.task_name, name), detach=True)
        if plan.entrypoint is not None:
            kwargs["entrypoint"] = plan.entrypoint
        if gpus:
            kwargs["device_requests"] = [docker.types.DeviceRequest(
                device_ids=[str(g) for g in gpus], capabilities=[["gpu"]])]
        if self.ipc_host:
            kwargs["ipc_mode"] = "host"  # the host's /dev/shm: shm_size does not apply
        else:
            kwargs["shm_size"] = self.shm_size
        try:
            return client.containers.create(plan.image, **kwargs)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            # A container of the same name left by a killed run: remove it if it is ours, then retry.
            old = client.containers.get(kwargs["name"])
            if (old.labels or {}).get(MANAGED_LABEL) != "true":
                raise
            old.remove(force=True)
            return client.containers.create(plan.image, **kwargs)

    def _wait_ready(self, container, host_port: int, health_path: str, startup_timeout: float,
                    cancel: threading.Event | None) -> None:
        deadline = time.monotonic() + startup_timeout
        while True:
            if cancel is not None and cancel.is_set():
                raise DeploymentError("cancelled", "cancelled while the engine was starting")
            container.reload()
            state = container.attrs.get("State", {})
            if state.get("Status") in ("exited", "dead"):
                raise _ContainerExited(state.get("ExitCode"), bool(state.get("OOMKilled")))
            if _healthy(host_port, health_path, timeout=min(1.0, max(deadline - time.monotonic(), 0.05))):
                return
            if time.monotonic() >= deadline:
                raise DeploymentError("timeout", f"the engine was not ready within {startup_timeout:g} s")
            if cancel is not None:
                cancel.wait(POLL_INTERVAL)
            else:
                time.sleep(POLL_INTERVAL)

    def reap_leftovers(self, experiment: str | None = None, all_tasks: bool = False) -> list[str]:
        """Remove containers this tool started (this task's, one experiment's, or every task's)."""
        try:
            client = self.client()
        except DeploymentError as e:
            log.warning("not reaping Docker containers: %s", e.message)
            return []
        labels = [f"{MANAGED_LABEL}=true"] + ([] if all_tasks else [f"{TASK_LABEL}={self.task_name}"])
        if experiment is not None:
            labels.append(f"{EXPERIMENT_LABEL}={experiment}")
        reaped = []
        for container in client.containers.list(all=True, filters={"label": labels}, ignore_removed=True):
            labels_of = container.labels or {}
            description = (f"docker container {container.name} ({container.short_id}, task "
                           f"{labels_of.get(TASK_LABEL, '?')}, experiment {labels_of.get(EXPERIMENT_LABEL, '?')}, "
                           f"{container.status})")
            try:
                container.remove(force=True)
                reaped.append(description)
            except Exception as e:
                log.warning("cannot remove %s: %s", description, e)
        return reaped
