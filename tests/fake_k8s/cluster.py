"""A fake Kubernetes cluster with OME for tests: a real HTTP API server on 127.0.0.1, a kubeconfig
pointing at it, and controllers that run the simulated engine where a GPU node would run the engine.

    with FakeCluster(tmp_path, gpus=4) as cluster:
        cluster.kubeconfig  # give it to the code under test
        cluster.create(yaml_object)  # fixtures, through the same admission as HTTP requests

The official ``kubernetes`` client talks to it like to a cluster (bearer token auth included).
"""

from __future__ import annotations

import asyncio
import copy
import queue
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

import yaml
from aiohttp import web

from .benchmarks import BenchmarkJobController, ScriptPods
from .kinds import BUILTIN, DATA, DEPLOYMENTS, NAMESPACES, NODES, PODS, SERVICES, load_crds
from .kubelet import Kubelet
from .ome import OmeController
from .server import ApiServer
from .store import Event, NotFound, Resource, Store
from .workloads import DeploymentController, NamespaceController, ServiceController

TOKEN = "fake-token"


def sample(name: str) -> list[dict[str, Any]]:
    """The documents of one OME sample copied into tests/data/ome/samples."""
    return [d for d in yaml.safe_load_all((DATA / "samples" / name).read_text()) if d]


class FakeCluster:
    def __init__(self, work_dir: Path, gpus: int = 8, nodes: int = 1, namespaces: tuple[str, ...] = ("default",)):
        self.work_dir = Path(work_dir)
        self.log_dir = self.work_dir / "pod-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.work_dir / "kubeconfig"
        self.store = Store()
        self.crds = load_crds()
        self._resources: dict[tuple[str, str, str], Resource] = {
            (r.group, r.version, r.plural): r for r in (*BUILTIN, *self.crds)}
        self.kubelet = Kubelet(self)
        self.ome = OmeController(self)
        self.deployments = DeploymentController(self)
        self.services = ServiceController(self)
        self.namespaces = NamespaceController(self)
        self.benchmarks = BenchmarkJobController(self)
        self.script_pods = ScriptPods(self, self.benchmarks)
        self.api = ApiServer(self, TOKEN)
        self._work: queue.Queue = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.errors: list[str] = []  # controller exceptions, for tests to assert on
        for i in range(nodes):
            self._add_node(f"fake-gpu-node-{i}", gpus)
        for ns in namespaces:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # -- life --------------------------------------------------------------------------------------
    def __enter__(self) -> "FakeCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.store.subscribe(lambda event: self._work.put(("event", event)))
        self._controller = threading.Thread(target=self._control, daemon=True, name="fake-k8s-controllers")
        self._controller.start()
        started = threading.Event()
        self._server = threading.Thread(target=self._serve, args=(started,), daemon=True, name="fake-k8s-api")
        self._server.start()
        if not started.wait(10):
            raise RuntimeError("the fake API server did not start")
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))

    def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._runner = web.AppRunner(self.api.app(), shutdown_timeout=1.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            started.set()

        self._loop.run_until_complete(boot())
        self._loop.run_forever()

    def stop(self) -> None:
        self._work.put(("stop", None))
        self._controller.join(10)
        self.kubelet.stop_all()
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self.api.close_streams(), self._loop).result(10)
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._server.join(10)
            self._loop.close()

    # -- the controller thread ---------------------------------------------------------------------
    def run_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self._work.put(("call", (fn, args)))

    def _control(self) -> None:
        while True:
            kind, item = self._work.get()
            if kind == "stop":
                return
            try:
                if kind == "call":
                    fn, args = item
                    fn(*args)
                else:
                    self._dispatch(item)
            except NotFound:
                pass  # the object went away meanwhile: nothing to reconcile
            except Exception:
                self.errors.append(traceback.format_exc())
                print(self.errors[-1], file=sys.stderr)

    def _dispatch(self, event: Event) -> None:
        obj = event.object
        if event.resource == self.ome.isvcs:
            self.ome.on_event(event.type, obj)
        elif event.resource == DEPLOYMENTS:
            self.deployments.on_event(event.type, obj)
        elif event.resource == SERVICES:
            self.services.on_event(event.type, obj)
        elif event.resource == NAMESPACES:
            self.namespaces.on_event(event.type, obj)
        elif event.resource == self.benchmarks.jobs:
            self.benchmarks.on_event(event.type, obj)
        elif event.resource == PODS:
            self.script_pods.on_event(event.type, obj)
        if event.type == "DELETED" and event.resource.namespaced:
            self.namespaces.finish_if_empty(obj["metadata"].get("namespace", ""))

    def pod_changed(self, pod: dict[str, Any], deleted: bool = False) -> None:
        self.ome.pod_changed(pod, deleted)
        self.deployments.pod_changed(pod)
        self.kubelet.refresh_services(pod["metadata"]["namespace"])

    # -- helpers -----------------------------------------------------------------------------------
    def resource(self, group: str, version: str, plural: str) -> Resource | None:
        return self._resources.get((group, version, plural))

    def namespaced_resources(self) -> list[Resource]:
        return [r for r in self._resources.values() if r.namespaced]

    def resource_of(self, obj: dict[str, Any]) -> Resource:
        group, _, version = obj["apiVersion"].rpartition("/")
        return next(r for r in self._resources.values()
                    if r.group == group and r.version == version and r.kind == obj["kind"])

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create through the API server's admission (schema validation, pruning); for fixtures."""
        resource = self.resource_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace", "default") if resource.namespaced else ""
        body, _ = self.api.admit(resource, copy.deepcopy(obj), namespace)
        if resource == NAMESPACES:
            body["metadata"]["finalizers"] = ["kubernetes"]
        return self.store.create(resource, body)

    def objects(self, plural: str, namespace: str | None = None, labels: str | None = None) -> list[dict]:
        resource = next(r for r in self._resources.values() if r.plural == plural)
        return self.store.list(resource, namespace, labels)[0]

    def describe(self) -> str:
        """Every object's kind, name and status, and the tail of every engine log: for failing tests."""
        lines = []
        for resource in self._resources.values():
            for obj in self.store.list(resource)[0]:
                if resource.plural not in ("nodes", "namespaces", "events"):
                    lines.append(f"{resource.kind} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}: "
                                 f"{obj.get('status')}")
        for log in sorted(self.log_dir.glob("*.log")):
            lines.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-10:]))
        return "\n".join(lines + self.errors)

    def running_engines(self) -> int:
        return sum(e.proc.poll() is None for e in self.kubelet.engines.values())

    def _add_node(self, name: str, gpus: int) -> None:
        amounts = {"nvidia.com/gpu": str(gpus), "cpu": "64", "memory": "512Gi", "pods": "110"}
        self.store.create(NODES, {"metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "spec": {}, "status": {"capacity": dict(amounts), "allocatable": dict(amounts),
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
