"""Why an experiment's engine is not serving, in the cluster's own words: the InferenceService's (or
Deployment's) conditions and ``modelStatus``, each pod's container states, the events of those pods
(``FailedScheduling``, ``OOMKilled``, ``BackOff``...) and the engine's last log lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import mentions_oom
from .client import Kube

_CRASH_WAITING = ("CrashLoopBackOff", "CreateContainerError", "RunContainerError", "ErrImagePull",
                  "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")


@dataclass
class PodReport:
    lines: list[str]
    log_tail: str
    oom: bool
    crashed: bool


def describe_conditions(obj: dict[str, Any]) -> list[str]:
    status = obj.get("status") or {}
    lines = []
    for c in status.get("conditions") or []:
        text = f"{c.get('type')}={c.get('status')}"
        if c.get("reason"):
            text += f" ({c['reason']})"
        if c.get("message"):
            text += f": {c['message']}"
        lines.append(text)
    model = status.get("modelStatus") or {}
    if model:
        states = model.get("modelRevisionStates") or {}
        text = (f"modelStatus: transitionStatus={model.get('transitionStatus', '')!s}, "
                f"activeModelState={states.get('activeModelState', '')!s}, "
                f"targetModelState={states.get('targetModelState', '')!s}")
        failure = model.get("lastFailureInfo") or {}
        if failure:
            text += f"; lastFailureInfo {failure.get('reason', '')}: {failure.get('message', '')}"
        lines.append(text)
    return lines


def _container_problems(pod: dict[str, Any]) -> tuple[list[str], bool, bool]:
    lines, oom, crashed = [], False, False
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        terminated = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") in _CRASH_WAITING:
            crashed = True
            lines.append(f"container {cs.get('name')}: {waiting['reason']}" +
                         (f": {waiting['message']}" if waiting.get("message") else ""))
        if terminated:
            crashed = True
            oom = oom or terminated.get("reason") == "OOMKilled"
            last = [ln for ln in (terminated.get("message") or "").splitlines() if ln.strip()][-1:]
            lines.append(f"container {cs.get('name')} terminated: {terminated.get('reason')}, exit code "
                         f"{terminated.get('exitCode')}" + (f": {last[0]}" if last else ""))
    return lines, oom, crashed


def pod_report(kube: Kube, namespace: str, selector: str, log_lines: int = 40, events: bool = True) -> PodReport:
    """The state of the experiment's pods, their warning events and the first pod's log tail."""
    lines: list[str] = []
    oom = crashed = False
    log_tail = ""
    pods = [kube.as_dict(p) for p in kube.core.list_namespaced_pod(namespace, label_selector=selector).items]
    if not pods:
        lines.append(f"no pod matches {selector} in namespace {namespace}")
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        problems, pod_oom, pod_crashed = _container_problems(pod)
        oom, crashed = oom or pod_oom, crashed or pod_crashed
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                problems.append(f"{cond.get('reason')}: {cond.get('message', '')}")
        lines.append(f"pod {name}: {status.get('phase', '?')}" + "".join(f"\n  {p}" for p in problems))
        if events:
            for event in _events(kube, namespace, name):
                lines.append(f"  event {event}")
                oom = oom or event.startswith("OOMKilled")
        if not log_tail:
            log_tail = pod_log(kube, namespace, name, log_lines)
    oom = oom or mentions_oom(log_tail) or any(mentions_oom(line) for line in lines)
    return PodReport(lines, log_tail, oom, crashed)


def _events(kube: Kube, namespace: str, pod: str) -> list[str]:
    """The pod's warnings (FailedScheduling, OOMKilled, BackOff...); the Normal ones tell nothing new."""
    try:
        items = kube.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    except Exception:
        return []
    out, seen = [], set()
    for e in sorted((e for e in items if e.type == "Warning"), key=lambda e: str(e.last_timestamp or "")):
        text = f"{e.reason} ({e.type}): {e.message}"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def pod_log(kube: Kube, namespace: str, pod: str, lines: int = 40) -> str:
    try:
        return (kube.core.read_namespaced_pod_log(pod, namespace, tail_lines=lines) or "").rstrip("\n")
    except Exception:
        return ""


def early_failure(kube: Kube, namespace: str, selector: str) -> str | None:
    """'oom' or 'crash' as soon as a pod's engine container has died, else None (still starting)."""
    try:
        pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    except Exception:
        return None
    for pod in pods:
        _, oom, crashed = _container_problems(kube.as_dict(pod))
        if oom:
            return "oom"
        if crashed:
            return "crash"
    return None
