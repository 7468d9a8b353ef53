"""One experiment's life in a cluster, the same for OME and plain mode: apply its manifests (a
server-side dry run first, so the API server's schema validation speaks before anything exists), watch
until the engine is ready or has failed, find where to reach it, and on every way out delete what was
created and watch until it is gone. Subclasses say which objects, which readiness, which endpoint.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..base import Deployer, Deployment, DeploymentError, Endpoint, LaunchSpec, last_lines
from ..reaper import safe_name
from .client import Kube, allocatable_gpus, api_message, api_status, is_api_error, k8s, wait_for
from .diagnostics import describe_conditions, early_failure, pod_log, pod_report
from .options import (EXPERIMENT_LABEL, MANAGED_BY, MANAGED_BY_VALUE, TASK_LABEL, dns_name, label_value,
                      owner_labels, parse_options, selector)
from .portforward import PortForwarder

if TYPE_CHECKING:  # a type only: the task spec names the deployers (deploy.registry)
    from ...spec.task import Task

log = logging.getLogger(__name__)
READY = "ready"
REACH_SECONDS = 10.0  # how long a ready engine may take to answer through the chosen endpoint


def _api_failure(e: Exception) -> str:
    return f"the Kubernetes API failed: {api_message(e) if is_api_error(e) else f'{type(e).__name__}: {e}'}"


class Failed(Exception):
    """The engine cannot become ready: ``reason`` is oom | crash | timeout | unavailable."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class Target:
    """An experiment in the cluster: its objects' name and the selector of its pods."""
    name: str  # the experiment's name, as the tuner gave it
    rname: str  # its objects' name (a DNS label)
    pods: str  # label selector of its pods


class KubeDeployment(Deployment):
    def __init__(self, deployer: "KubeDeployer", target: Target, endpoint: Endpoint, log_path: Path,
                 gpus: list[int], forwarder: PortForwarder | None):
        self.deployer, self.target, self.endpoint, self.log_path, self.gpus = deployer, target, endpoint, log_path, gpus
        self.forwarder = forwarder
        self._lock = threading.Lock()
        self._stopped = False

    def log_tail(self, lines: int = 40) -> str:
        if not self._stopped:
            tail = self.deployer.engine_log(self.target, lines)
            if tail:
                return tail
        try:
            return last_lines(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self.forwarder is not None:
            self.forwarder.close()
        self.deployer.teardown(self.target, self.log_path)


class KubeDeployer(Deployer):
    def __init__(self, task: Task, log_dir: Path, kube: Kube | None = None):
        self.task = task
        self.options = parse_options(task.kubernetes)
        self.log_dir = Path(log_dir)
        self._kube = kube
        self._lock = threading.Lock()
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._active: set[str] = set()  # objects of experiments this deployer runs now

    # -- what subclasses provide (``rname``: the objects' name) ------------------------------------
    @abstractmethod
    def manifests(self, spec: LaunchSpec, name: str) -> list[dict[str, Any]]:
        """The experiment's objects in apply order; the first is the one whose readiness counts."""

    @abstractmethod
    def create(self, obj: dict[str, Any], dry_run: bool) -> dict[str, Any]: ...

    @abstractmethod
    def get_main(self, rname: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def watch_main(self) -> tuple[Any, tuple]:
        """(list function, its positional arguments) to watch the main object with."""

    @abstractmethod
    def verdict(self, event_type: str, obj: dict[str, Any]) -> Any:
        """READY, a ``Failed``, or None while starting."""

    @abstractmethod
    def endpoint_url(self, rname: str, main: dict[str, Any]) -> tuple[str, PortForwarder | None]: ...

    @abstractmethod
    def delete_objects(self, rname: str) -> list[tuple[Any, tuple[Any, tuple, str]]]:
        """Delete the experiment's objects; per object, (get, (list function, its arguments, name)) to
        watch until it is gone."""

    @abstractmethod
    def list_task_objects(self) -> list[dict[str, Any]]:
        """This task's main objects in the namespace, as dicts."""

    def prepare(self) -> None:
        """Once per deployer, before the first experiment (namespace, presets)."""

    # -- shared ------------------------------------------------------------------------------------
    @property
    def kube(self) -> Kube:
        with self._lock:
            if self._kube is None:
                self._kube = Kube.connect(self.options)
            return self._kube

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{safe_name(name)}.log"

    def capacity(self) -> int | None:
        """The nodes' allocatable ``nvidia.com/gpu`` (None when they report none)."""
        return allocatable_gpus(self.kube) or None

    def target(self, name: str) -> Target:
        return Target(name, dns_name(name), selector(owner_labels(self.task.name, name)))

    def task_selector(self) -> str:
        return f"{MANAGED_BY}={MANAGED_BY_VALUE},{TASK_LABEL}={label_value(self.task.name)}"

    def _prepare_once(self) -> None:
        with self._prepare_lock:  # parallel first experiments wait for one preparation
            if not self._prepared:
                self.prepare()
                self._prepared = True

    def deploy(self, spec: LaunchSpec, name: str, gpus: list[int], startup_timeout: float,
               cancel: threading.Event | None = None) -> Deployment:
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout}")
        deadline = time.monotonic() + startup_timeout
        target = self.target(name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        log_path.write_text("")
        try:
            self._prepare_once()
            try:
                objects = self.manifests(spec, name)
            except ValueError as e:
                raise DeploymentError("crash", f"cannot build the manifests: {e}") from None
            with log_path.open("a") as f:
                f.write("# autotuner: applying\n" + yaml.safe_dump_all(objects, sort_keys=False))
            self._remove_stale(target)
            for obj in objects:  # the API server validates everything before anything is created
                self._apply(obj, dry_run=True)
        except DeploymentError as e:
            e.log_path = log_path
            raise
        except Exception as e:  # the API server refused or went away (403, connection refused...)
            raise DeploymentError("unavailable", _api_failure(e), log_path=log_path) from e
        with self._lock:
            self._active.add(target.rname)
        try:
            for obj in objects:
                self._apply(obj, dry_run=False)
            result = wait_for(lambda: self.get_main(target.rname), *self.watch_main(), target.rname, self.verdict,
                              deadline, cancel, between=lambda: self._early_failure(target))
            if result is None:
                raise Failed("timeout", f"{objects[0]['kind']} {target.rname} was not ready within "
                                        f"{startup_timeout:g} s")
            if isinstance(result, Failed):
                raise result
            url, forwarder = self.endpoint_url(target.rname, self.get_main(target.rname) or {})
            try:
                self._check_reachable(url, spec.health_path)
            except BaseException:
                if forwarder is not None:
                    forwarder.close()
                raise
            return KubeDeployment(self, target, Endpoint(url, spec.model_name), log_path, list(gpus), forwarder)
        except (Failed, DeploymentError) as e:
            raise self._failure(e.reason, e.message, target, log_path) from None
        except Exception as e:
            raise self._failure("unavailable", _api_failure(e), target, log_path) from e
        except BaseException:  # Ctrl-C: nothing may outlive the failed start
            self.teardown(target, log_path)
            raise

    def _early_failure(self, target: Target) -> Failed | None:
        reason = early_failure(self.kube, self.options.namespace, target.pods)
        return None if reason is None else Failed(reason, "the engine container died during start-up")

    def _apply(self, obj: dict[str, Any], dry_run: bool) -> None:
        what = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            self.create(obj, dry_run)
        except Exception as e:
            if not is_api_error(e):
                raise DeploymentError("unavailable", f"cannot reach the Kubernetes API server: {e}") from e
            stage = " (server-side dry run)" if dry_run else ""
            reason = "crash" if api_status(e) in (400, 422) else "unavailable"
            raise DeploymentError(reason, f"the API server refused {what}{stage}: {api_message(e)}") from None

    def _remove_stale(self, target: Target) -> None:
        """An object of this name left by a killed run of this task goes; anyone else's is an error."""
        existing = self.get_main(target.rname)
        if existing is None:
            return
        labels = existing.get("metadata", {}).get("labels") or {}
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or labels.get(TASK_LABEL) != label_value(self.task.name):
            raise DeploymentError("unavailable", f"{existing.get('kind')} {target.rname} already exists in "
                                  f"namespace {self.options.namespace} and is not this task's")
        self.delete(target)

    def _check_reachable(self, url: str, path: str) -> None:
        parts = urllib.parse.urlsplit(url)
        give_up = time.monotonic() + REACH_SECONDS  # ready in the cluster: only the path can be wrong
        last = ""
        while time.monotonic() < give_up:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=2)
            try:
                conn.request("GET", parts.path.rstrip("/") + path)
                status = conn.getresponse().status
                if status == 200:
                    return
                last = f"HTTP {status}"
            except (OSError, http.client.HTTPException) as e:
                last = str(e)
            finally:
                conn.close()
            time.sleep(0.2)
        raise Failed("unavailable", f"the engine is ready in the cluster but {url}{path} does not answer "
                                    f"({last}); set kubernetes.endpoint to in-cluster or port-forward")

    def _failure(self, reason: str, message: str, target: Target, log_path: Path) -> DeploymentError:
        """What the cluster says about the failed start, in the error and the log; then remove it."""
        lines, tail = [message], ""
        try:
            main = self.get_main(target.rname)
            if main is not None:
                lines += [f"{main.get('kind')} {target.rname}: {line}" for line in describe_conditions(main)]
            report = pod_report(self.kube, self.options.namespace, target.pods)
            lines += report.lines
            tail = report.log_tail
            if reason in ("crash", "timeout") and report.oom:
                reason = "oom"
        except Exception as e:
            lines.append(f"(could not read the cluster's diagnostics: {e})")
        text = "\n".join(lines)
        try:
            with log_path.open("a") as f:
                f.write(f"# autotuner: {reason}\n{text}\n# --- engine log ---\n{tail}\n")
        except OSError:
            pass
        self.teardown(target, log_path, save_log=False)
        return DeploymentError(reason, text, tail, log_path)

    # -- logs and removal --------------------------------------------------------------------------
    def engine_log(self, target: Target, lines: int) -> str:
        pods = self.kube.core.list_namespaced_pod(self.options.namespace, label_selector=target.pods)
        return pod_log(self.kube, self.options.namespace, pods.items[0].metadata.name, lines) if pods.items else ""

    def teardown(self, target: Target, log_path: Path, save_log: bool = True) -> None:
        """Keep the engine's log, delete the experiment and wait until it is gone; never raises
        (``autotuner cleanup`` and ``reap_leftovers`` remain for what could not be removed)."""
        try:
            if save_log:
                text = self.engine_log(target, 5000)
                if text:
                    with log_path.open("a") as f:
                        f.write("# --- engine log ---\n" + text + "\n")
        except Exception as e:
            log.debug("could not save the log of %s: %s", target.name, e)
        try:
            self.delete(target)
        except Exception as e:
            log.warning("could not remove experiment %s from the cluster: %s", target.name, e)
        finally:
            with self._lock:
                self._active.discard(target.rname)

    def delete(self, target: Target) -> None:
        """Delete the experiment's objects, watch until each is gone, then until its pods are."""
        deadline = time.monotonic() + self.options.delete_timeout
        for get, (watch_fn, args, name) in self.delete_objects(target.rname):
            gone = wait_for(get, watch_fn, args, name, lambda t, _o: True if t == "DELETED" else None, deadline, None)
            if gone is None:
                raise DeploymentError("timeout", f"{name} was still in the cluster after "
                                      f"{self.options.delete_timeout:g} s")
        self._wait_pods_gone(target.pods, deadline)

    def _wait_pods_gone(self, pods_selector: str, deadline: float) -> None:
        """Until the experiment's pods have terminated, their GPUs are not free for the next one."""
        ns = self.options.namespace
        while True:
            pods = self.kube.core.list_namespaced_pod(ns, label_selector=pods_selector)
            if not pods.items:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeploymentError("timeout", f"pods {', '.join(p.metadata.name for p in pods.items)} were "
                                      f"still terminating after {self.options.delete_timeout:g} s")
            w = k8s().watch.Watch()
            for event in w.stream(self.kube.core.list_namespaced_pod, ns, label_selector=pods_selector,
                                  resource_version=pods.metadata.resource_version,
                                  timeout_seconds=max(1, int(min(left, 5) + 0.999))):
                if event["type"] == "DELETED":
                    w.stop()

    def reap_leftovers(self, experiment: str | None = None) -> list[str]:
        """Delete this task's experiments (or one) that a killed tuner left in the namespace."""
        try:
            items = self.list_task_objects()
        except Exception as e:
            log.warning("not reaping Kubernetes leftovers: %s", api_message(e) if is_api_error(e) else e)
            return []
        reaped = []
        for obj in items:
            meta = obj["metadata"]
            with self._lock:
                if meta["name"] in self._active:
                    continue
            labels = meta.get("labels") or {}
            if experiment is not None and labels.get(EXPERIMENT_LABEL) != label_value(experiment):
                continue
            pods = selector({k: labels[k] for k in (MANAGED_BY, TASK_LABEL, EXPERIMENT_LABEL) if k in labels})
            target = Target(labels.get(EXPERIMENT_LABEL, meta["name"]), meta["name"], pods)
            try:
                self.delete(target)
                reaped.append(f"{obj.get('kind')} {self.options.namespace}/{meta['name']} "
                              f"(experiment {target.name})")
            except Exception as e:
                log.warning("cannot remove %s %s: %s", obj.get("kind"), meta["name"], e)
        return reaped
