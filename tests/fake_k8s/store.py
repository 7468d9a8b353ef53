"""The fake API server's storage: objects by resource, resource versions, selectors and watch events.

Thread-safe: the HTTP server, the controllers and the engine monitors all write to it. Every change
bumps one cluster-wide resource version and is appended to a bounded history that watches replay
from; subscribers (watch streams, controllers) are called under the lock, so they must only enqueue.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

HISTORY = 5000


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    resource: Resource
    object: dict[str, Any]
    rv: int


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass


def _path_value(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def match_fields(obj: dict[str, Any], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        negate = "!=" in term
        key, _, want = term.partition("!=" if negate else "=")
        want = want.lstrip("=")
        have = _path_value(obj, key.strip())
        if (str(have) == want.strip()) == negate:
            return False
    return True


_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    return [t for t in terms + [current] if t.strip()]


def match_labels(labels: dict[str, str], selector: str | None) -> bool:
    """Equality (``k=v``, ``k==v``, ``k!=v``), existence (``k``, ``!k``) and set (``in``/``notin``) terms."""
    for term in _split_terms(selector or ""):
        m = _SET_TERM.match(term)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            inside = labels.get(m.group(1)) in values
            if inside != (m.group(2) == "in"):
                return False
        elif "!=" in term:
            key, want = term.split("!=", 1)
            if labels.get(key.strip()) == want.strip():
                return False
        elif "=" in term:
            key, want = term.split("=", 1)
            if labels.get(key.strip()) != want.lstrip("=").strip():
                return False
        elif term.strip().startswith("!"):
            if term.strip()[1:] in labels:
                return False
        elif term.strip() not in labels:
            return False
    return True


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[Resource, dict[tuple[str, str], dict[str, Any]]] = {}
        self._rv = itertools.count(1)
        self.rv = 0
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: list[Callable[[Event], None]] = []

    # -- subscriptions -----------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> None:
        with self.lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        with self.lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def _emit(self, type_: str, resource: Resource, obj: dict[str, Any]) -> None:
        event = Event(type_, resource, copy.deepcopy(obj), self.rv)
        self.history.append(event)
        for callback in list(self._subscribers):
            callback(event)

    def _bump(self, obj: dict[str, Any]) -> None:
        self.rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(self.rv)

    # -- reads -------------------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self._objects.get(resource, {}).get((namespace, name))
            if obj is None:
                raise NotFound(f'{resource.plural}.{resource.group or "core"} "{name}" not found')
            return copy.deepcopy(obj)

    def find(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(resource, namespace, name)
        except NotFound:
            return None

    def list(self, resource: Resource, namespace: str | None = None, labels: str | None = None,
             fields: str | None = None) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            items = [copy.deepcopy(o) for (ns, _), o in sorted(self._objects.get(resource, {}).items())
                     if (namespace is None or ns == namespace)
                     and match_labels(o["metadata"].get("labels") or {}, labels) and match_fields(o, fields)]
            return items, self.rv

    # -- writes ------------------------------------------------------------------------------------
    def create(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        with self.lock:
            bucket = self._objects.setdefault(resource, {})
            if (namespace, meta["name"]) in bucket:
                raise Conflict(f'{resource.plural}.{resource.group or "core"} "{meta["name"]}" already exists')
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            self._bump(obj)
            bucket[(namespace, meta["name"])] = obj
            self._emit("ADDED", resource, obj)
            return copy.deepcopy(obj)

    def update(self, resource: Resource, namespace: str, name: str,
               change: Callable[[dict[str, Any]], None], expect_rv: str | None = None) -> dict[str, Any]:
        """Apply ``change`` to the stored object in place; a spec change bumps the generation."""
        with self.lock:
            bucket = self._objects.get(resource, {})
            obj = bucket.get((namespace if resource.namespaced else "", name))
            if obj is None:
                raise NotFound(f'{resource.plural}.{resource.group or "core"} "{name}" not found')
            if expect_rv and expect_rv != obj["metadata"]["resourceVersion"]:
                raise Conflict(f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has '
                               "been modified; please apply your changes to the latest version and try again")
            before = copy.deepcopy(obj.get("spec"))
            change(obj)
            if obj.get("spec") != before:
                obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            self._bump(obj)
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                del bucket[(namespace if resource.namespaced else "", name)]
                self._emit("DELETED", resource, obj)
            else:
                self._emit("MODIFIED", resource, obj)
            return copy.deepcopy(obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        """Remove now, or mark for deletion when finalizers remain (their owners then remove them)."""
        with self.lock:
            key = (namespace if resource.namespaced else "", name)
            obj = self._objects.get(resource, {}).get(key)
            if obj is None:
                raise NotFound(f'{resource.plural}.{resource.group or "core"} "{name}" not found')
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    return self.update(resource, namespace, name,
                                       lambda o: o["metadata"].__setitem__("deletionTimestamp", now()))
                return copy.deepcopy(obj)
            del self._objects[resource][key]
            self._bump(obj)
            self._emit("DELETED", resource, obj)
            return copy.deepcopy(obj)

    def remove_finalizer(self, resource: Resource, namespace: str, name: str, finalizer: str) -> None:
        def drop(obj: dict[str, Any]) -> None:
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        try:
            self.update(resource, namespace, name, drop)
        except NotFound:
            pass

    def watch_from(self, callback: Callable[[Event], None], rv: int | None) -> list[Event] | None:
        """Subscribe ``callback``; return the history after ``rv`` (None when ``rv`` is too old)."""
        with self.lock:
            self._subscribers.append(callback)
            if rv is None:
                return []
            oldest = self.history[0].rv if self.history else self.rv + 1
            if rv < oldest - 1 and rv < self.rv:
                return None
            return [e for e in self.history if e.rv > rv]
