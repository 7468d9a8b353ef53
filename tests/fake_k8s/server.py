"""The fake API server's HTTP side (aiohttp): the REST paths the official client calls.

``/api/v1/...`` and ``/apis/<group>/<version>/...``, cluster-scoped and namespaced; GET (one, list,
``watch=true`` as a stream of JSON lines), POST, PUT, PATCH (merge), DELETE; ``dryRun=All``;
``fieldValidation`` (Strict refuses unknown fields, Warn reports them in ``Warning`` headers);
``pods/<name>/log``; ``pods/<name>/portforward`` (WebSocket, ``v4.channel.k8s.io``). Errors are
``Status`` objects with the API server's reasons and codes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .kinds import NAMESPACES, PODS
from .schema import prepare, validate
from .store import Conflict, NotFound, Resource, match_fields, match_labels

if TYPE_CHECKING:
    from .cluster import Cluster

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list[dict] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes or []

    def response(self) -> web.Response:
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": self.message, "reason": self.reason,
                                  "details": {"causes": self.causes} if self.causes else {}, "code": self.code},
                                 status=self.code)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def normalize_quantities(obj: Any) -> None:
    """Built-in types store resource quantities as strings (``1`` -> ``"1"``), like the API server."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("requests", "limits", "capacity", "allocatable") and isinstance(value, dict):
                obj[key] = {k: str(v) for k, v in value.items()}
            else:
                normalize_quantities(value)
    elif isinstance(obj, list):
        for item in obj:
            normalize_quantities(item)


class ApiServer:
    def __init__(self, cluster: "Cluster", token: str):
        self.cluster, self.store, self.token = cluster, cluster.store, token
        self.streams: set[asyncio.Task] = set()  # open watches and port-forwards, cancelled on shutdown

    async def close_streams(self) -> None:
        for task in list(self.streams):
            task.cancel()
        await asyncio.gather(*self.streams, return_exceptions=True)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/version", self._version)
        app.router.add_route("*", "/api/{version}/{rest:.*}", self.handle)
        app.router.add_route("*", "/apis/{group}/{version}/{rest:.*}", self.handle)
        return app

    async def _version(self, _request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake"})

    # -- routing -----------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            resource, namespace, name, sub = self._route(request)
            if sub == "portforward" and resource == PODS:
                return await self._streaming(self._portforward(request, namespace, name))
            if sub == "log" and resource == PODS:
                return self._log(request, namespace, name)
            if sub not in (None, "status"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            method = request.method
            if method == "GET" and name is None:
                if request.query.get("watch") in ("1", "t", "T", "true", "TRUE", "True"):  # Go's ParseBool
                    return await self._streaming(self._watch(request, resource, namespace))
                return self._list(request, resource, namespace)
            if method == "GET":
                return web.json_response(self._get(resource, namespace, name))
            if method == "POST" and name is None:
                return await self._create(request, resource, namespace)
            if method in ("PUT", "PATCH") and name is not None:
                return await self._update(request, resource, namespace, name, sub)
            if method == "DELETE" and name is not None:
                return await self._delete(request, resource, namespace, name)
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")
        except ApiError as e:
            return e.response()

    async def _streaming(self, coro) -> web.StreamResponse:
        task = asyncio.current_task()
        self.streams.add(task)
        try:
            return await coro
        finally:
            self.streams.discard(task)

    def _route(self, request: web.Request) -> tuple[Resource, str, str | None, str | None]:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        parts = [p for p in request.match_info["rest"].split("/") if p]
        namespace = ""
        if len(parts) >= 3 and parts[0] == "namespaces":
            namespace, parts = parts[1], parts[2:]
        if not parts:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = self.cluster.resource(group, version, parts[0])
        if resource is None or (resource.namespaced and not namespace and len(parts) > 1):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return resource, namespace, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None

    def _get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.store.get(resource, namespace, name)
        except NotFound as e:
            raise ApiError(404, "NotFound", str(e)) from None

    def _list(self, request: web.Request, resource: Resource, namespace: str) -> web.Response:
        items, rv = self.store.list(resource, namespace if resource.namespaced and namespace else None,
                                    request.query.get("labelSelector"), request.query.get("fieldSelector"))
        return web.json_response({"apiVersion": resource.api_version, "kind": f"{resource.kind}List",
                                  "metadata": {"resourceVersion": str(rv)}, "items": items})

    # -- admission: names, labels, schema, pruning -------------------------------------------------
    def admit(self, resource: Resource, body: dict[str, Any], namespace: str,
              field_validation: str = "Warn") -> tuple[dict[str, Any], list[str]]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        if body.get("kind") != resource.kind or body.get("apiVersion") != resource.api_version:
            raise ApiError(400, "BadRequest", f"the body is {body.get('apiVersion')}/{body.get('kind')}, "
                                              f"expected {resource.api_version}/{resource.kind}")
        meta = body.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                                                  "namespace sent on the request")
            meta["namespace"] = namespace
        warnings: list[str] = []
        crd = self.cluster.crds.get(resource)
        if crd is not None:
            body, unknown = prepare(body, crd)
            if unknown and field_validation == "Strict":
                raise ApiError(400, "BadRequest", "strict decoding error: " +
                               ", ".join(f'unknown field "{u}"' for u in unknown))
            if field_validation != "Ignore":
                warnings = [f'unknown field "{u}"' for u in unknown]
            if crd.status_subresource:
                body.pop("status", None)
        else:
            normalize_quantities(body)
        errors = self._metadata_errors(resource, body["metadata"])
        if crd is not None:
            errors += validate(body, crd)
        if errors:
            group = f".{resource.group}" if resource.group else ""
            name = body["metadata"].get("name", "")
            listed = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
            raise ApiError(422, "Invalid", f'{resource.kind}{group} "{name}" is invalid: {listed}',
                           [{"reason": "FieldValueInvalid", "message": e, "field": e.split(":")[0]} for e in errors])
        return body, warnings

    @staticmethod
    def _metadata_errors(resource: Resource, meta: dict[str, Any]) -> list[str]:
        errors = []
        name = meta.get("name") or ""
        pattern = _DNS_LABEL if resource.plural in ("services", "namespaces") else _DNS_SUBDOMAIN
        if not name:
            errors.append("metadata.name: Required value: name or generateName is required")
        elif not pattern.match(name) or len(name) > (63 if pattern is _DNS_LABEL else 253):
            errors.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 name must consist of '
                          "lower case alphanumeric characters or '-'")
        for key, value in (meta.get("labels") or {}).items():
            if not _LABEL_NAME.match(key.split("/")[-1]) or len(key.split("/")[-1]) > 63:
                errors.append(f'metadata.labels: Invalid value: "{key}": name part must be valid')
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                errors.append(f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string '
                              "or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters")
        return errors

    # -- writes ------------------------------------------------------------------------------------
    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        value = request.query.get("dryRun")
        if value not in (None, "All"):
            raise ApiError(400, "BadRequest", f'Invalid dry run value: "{value}"; supported: "All"')
        return value == "All"

    async def _create(self, request: web.Request, resource: Resource, namespace: str) -> web.Response:
        dry = self._dry_run(request)
        body, warnings = self.admit(resource, await request.json(), namespace,
                                    request.query.get("fieldValidation", "Warn"))
        if resource.namespaced and self.store.find(NAMESPACES, "", namespace) is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        if resource == NAMESPACES:
            body["metadata"]["finalizers"] = ["kubernetes"]
            body.setdefault("status", {"phase": "Active"})
        if dry:
            if self.store.find(resource, namespace, body["metadata"]["name"]) is not None:
                raise ApiError(409, "AlreadyExists", f'{resource.plural} "{body["metadata"]["name"]}" already exists')
            body["metadata"].update(uid="dry-run", generation=1)
            return self._respond(body, 201, warnings)
        try:
            return self._respond(self.store.create(resource, body), 201, warnings)
        except Conflict as e:
            raise ApiError(409, "AlreadyExists", str(e)) from None

    async def _update(self, request: web.Request, resource: Resource, namespace: str, name: str,
                      sub: str | None) -> web.Response:
        dry = self._dry_run(request)
        current = self._get(resource, namespace, name)
        patch = await request.json()
        if request.method == "PATCH":
            if "json-patch" in request.content_type:
                raise ApiError(415, "UnsupportedMediaType", "the fake API server supports merge patches only")
            wanted = merge_patch(current, patch)
        else:
            wanted = patch
        if sub == "status":
            body, warnings = {**current, "status": wanted.get("status")}, []
        else:  # the main resource: status is written through /status only
            body, warnings = self.admit(resource, copy.deepcopy(wanted), namespace,
                                        request.query.get("fieldValidation", "Warn"))
            if "status" in current:
                body["status"] = current["status"]
        expect = (patch.get("metadata") or {}).get("resourceVersion") if request.method == "PUT" else None
        if dry:
            return self._respond(body, 200, warnings)
        keep = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp")

        def change(obj: dict[str, Any]) -> None:
            meta = {**body["metadata"], **{k: obj["metadata"][k] for k in keep if k in obj["metadata"]}}
            obj.clear()
            obj.update(body)
            obj["metadata"] = meta
        try:
            return self._respond(self.store.update(resource, namespace, name, change, expect), 200, warnings)
        except Conflict as e:
            raise ApiError(409, "Conflict", str(e)) from None
        except NotFound as e:
            raise ApiError(404, "NotFound", str(e)) from None

    async def _delete(self, request: web.Request, resource: Resource, namespace: str, name: str) -> web.Response:
        dry = self._dry_run(request)
        current = self._get(resource, namespace, name)
        if dry:
            return web.json_response(current)
        if resource == PODS:
            self.cluster.run_soon(self.cluster.kubelet.delete_pod, namespace, name)
            return web.json_response(current)
        try:
            return web.json_response(self.store.delete(resource, namespace, name))
        except NotFound as e:
            raise ApiError(404, "NotFound", str(e)) from None

    @staticmethod
    def _respond(obj: dict[str, Any], status: int, warnings: list[str]) -> web.Response:
        headers = [("Warning", f'299 - "{w}"') for w in warnings]
        response = web.json_response(obj, status=status)
        for key, value in headers:
            response.headers.add(key, value)
        return response

    # -- streams -----------------------------------------------------------------------------------
    async def _watch(self, request: web.Request, resource: Resource, namespace: str) -> web.StreamResponse:
        labels, fields = request.query.get("labelSelector"), request.query.get("fieldSelector")
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        rv = request.query.get("resourceVersion")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def wanted(event_resource: Resource, obj: dict[str, Any]) -> bool:
            return (event_resource == resource
                    and (not namespace or obj["metadata"].get("namespace", "") == namespace)
                    and match_labels(obj["metadata"].get("labels") or {}, labels) and match_fields(obj, fields))

        def feed(event) -> None:
            if wanted(event.resource, event.object):
                loop.call_soon_threadsafe(queue.put_nowait, (event.type, event.object))

        with self.store.lock:
            if rv in (None, "", "0"):
                items, _ = self.store.list(resource, namespace or None, labels, fields)
                backlog = [("ADDED", o) for o in items] + (self.store.watch_from(feed, None) or [])
            else:
                history = self.store.watch_from(feed, int(rv))
                backlog = None if history is None else [(e.type, e.object) for e in history
                                                         if wanted(e.resource, e.object)]
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            if backlog is None:
                gone = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
                        "message": f"too old resource version: {rv}"}
                await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                return response
            for type_, obj in backlog:
                await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
            deadline = loop.time() + timeout
            while (left := deadline - loop.time()) > 0:
                try:
                    type_, obj = await asyncio.wait_for(queue.get(), left)
                except asyncio.TimeoutError:
                    break
                await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.unsubscribe(feed)
        return response

    def _log(self, request: web.Request, namespace: str, name: str) -> web.Response:
        self._get(PODS, namespace, name)
        text = self.cluster.kubelet.log_text(namespace, name) or ""
        tail = request.query.get("tailLines")
        if tail:
            text = "\n".join(text.splitlines()[-int(tail):]) + "\n"
        return web.Response(text=text, content_type="text/plain")

    async def _portforward(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        self._get(PODS, namespace, name)
        ports = [int(p) for value in request.query.getall("ports", []) for p in value.split(",")]
        target = self.cluster.kubelet.port_of(namespace, name)
        if len(ports) != 1 or target is None:
            raise ApiError(400, "BadRequest", f"cannot forward ports {ports} of pod {name}: "
                                              "one port of a running container is supported")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        port_bytes = ports[0].to_bytes(2, "little")
        await ws.send_bytes(b"\x00" + port_bytes)
        await ws.send_bytes(b"\x01" + port_bytes)
        reader, writer = await asyncio.open_connection("127.0.0.1", target)

        async def pod_to_client() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(b"\x00" + data)
            await ws.close()

        pump = asyncio.create_task(pod_to_client())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY and msg.data[:1] == b"\x00" and len(msg.data) > 1:
                    writer.write(msg.data[1:])
                    await writer.drain()
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            writer.close()
            pump.cancel()
        return ws
