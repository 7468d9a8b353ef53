"""The resources the fake API server serves, and where the OME fixtures live."""

from __future__ import annotations

from pathlib import Path

from .schema import Crd, load_crd
from .store import Resource

DATA = Path(__file__).resolve().parent.parent / "data" / "ome"
CRD_FILES = ("ome.io_inferenceservices.yaml", "ome.io_clusterservingruntimes.yaml",
             "ome.io_clusterbasemodels.yaml", "ome.io_benchmarkjobs.yaml")

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False)
NODES = Resource("", "v1", "nodes", "Node", False)
PODS = Resource("", "v1", "pods", "Pod", True)
SERVICES = Resource("", "v1", "services", "Service", True)
EVENTS = Resource("", "v1", "events", "Event", True)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
SECRETS = Resource("", "v1", "secrets", "Secret", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)
BUILTIN = (NAMESPACES, NODES, PODS, SERVICES, EVENTS, CONFIGMAPS, SECRETS, DEPLOYMENTS)


def load_crds() -> dict[Resource, Crd]:
    crds = {}
    for name in CRD_FILES:
        crd = load_crd(str(DATA / "crds" / name))
        crds[Resource(crd.group, crd.version, crd.plural, crd.kind, crd.namespaced)] = crd
    return crds


def by_plural(crds: dict[Resource, Crd], plural: str) -> Resource:
    return next(r for r in crds if r.plural == plural)
