"""What an API server does with a custom object before storing it: prune, default, validate.

It follows the CRD's structural ``openAPIV3Schema``: unknown fields are dropped (and reported, so
that ``fieldValidation=Strict`` can refuse them), absent fields with a ``default`` get it, and the
result is validated with ``jsonschema`` (Draft 4, the closest to OpenAPI v3's dialect) plus the
``x-kubernetes-list-type`` uniqueness rules. Errors read like the API server's.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
OBJECT_META_FIELDS = ("name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion",
                      "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "finalizers", "ownerReferences", "managedFields", "selfLink")


@dataclass
class Crd:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any]
    status_subresource: bool

    @functools.cached_property
    def validator(self) -> jsonschema.Draft4Validator:
        return jsonschema.Draft4Validator(_nullable_to_null(self.schema))


@functools.lru_cache(maxsize=None)
def load_crd(path: str) -> Crd:
    doc = yaml.load(Path(path).read_text(), Loader=_LOADER)
    spec = doc["spec"]
    version = next(v for v in spec["versions"] if v.get("storage")) if len(spec["versions"]) > 1 \
        else spec["versions"][0]
    return Crd(spec["group"], version["name"], spec["names"]["kind"], spec["names"]["plural"],
               spec["scope"] == "Namespaced", version["schema"]["openAPIV3Schema"],
               "status" in (version.get("subresources") or {}))


def _nullable_to_null(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_nullable_to_null(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable_to_null(v) for k, v in schema.items()}
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def prune(value: Any, schema: dict[str, Any], path: str, unknown: list[str]) -> Any:
    """``value`` without the fields ``schema`` does not know; their paths go to ``unknown``."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            value = dict(value)
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        out = {}
        for key, item in value.items():
            if props is not None and key in props:
                out[key] = prune(item, props[key], _join(path, key), unknown)
            elif isinstance(extra, dict):
                out[key] = prune(item, extra, _join(path, key), unknown)
            elif keep_unknown or extra is True:
                out[key] = item
            elif schema.get("x-kubernetes-embedded-resource") and key in ("apiVersion", "kind", "metadata"):
                out[key] = item
            else:
                unknown.append(_join(path, key))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"], _join(path, i), unknown) for i, item in enumerate(value)]
    return value


def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            if key in props:
                apply_defaults(item, props[key])
            elif isinstance(schema.get("additionalProperties"), dict):
                apply_defaults(item, schema["additionalProperties"])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def prepare(obj: dict[str, Any], crd: Crd) -> tuple[dict[str, Any], list[str]]:
    """(the object as the server would store it, the unknown fields it dropped)."""
    unknown: list[str] = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    pruned = prune(body, crd.schema, "", unknown)
    metadata = obj.get("metadata") or {}
    unknown += [f"metadata.{k}" for k in metadata if k not in OBJECT_META_FIELDS]
    out = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
           "metadata": {k: v for k, v in metadata.items() if k in OBJECT_META_FIELDS}, **pruned}
    return apply_defaults(out, crd.schema), unknown


def _k8s_message(error: jsonschema.ValidationError) -> str:
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path)
    field = field.replace(".[", "[") or "<root>"
    value = json.dumps(error.instance)
    if error.validator == "type":
        expected = error.validator_value
        if not isinstance(expected, str):
            expected = " or ".join(expected)
        return f"{field}: Invalid value: {value}: {field} in body must be of type {expected}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{_join(field if field != '<root>' else '', missing)}: Required value"
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"{field}: Unsupported value: {value}: supported values: {allowed}"
    return f"{field}: Invalid value: {value}: {error.message}"


def _list_rules(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if isinstance(value, list):
        kind = schema.get("x-kubernetes-list-type")
        if kind == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = set()
            for i, item in enumerate(value):
                key = tuple(json.dumps(item.get(k)) for k in keys) if isinstance(item, dict) else None
                if key in seen:
                    errors.append(f"{_join(path, i)}: Duplicate value: {json.dumps({k: item.get(k) for k in keys})}")
                seen.add(key)
        elif kind == "set":
            seen_items = []
            for i, item in enumerate(value):
                if item in seen_items:
                    errors.append(f"{_join(path, i)}: Duplicate value: {json.dumps(item)}")
                seen_items.append(item)
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                _list_rules(item, schema["items"], _join(path, i), errors)
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, item in value.items():
            sub = props.get(key) or (schema.get("additionalProperties") if isinstance(
                schema.get("additionalProperties"), dict) else None)
            if sub:
                _list_rules(item, sub, _join(path, key), errors)


def validate(obj: dict[str, Any], crd: Crd) -> list[str]:
    """The API server's complaints about ``obj`` (empty when valid)."""
    body = {k: v for k, v in obj.items() if k != "metadata"}
    errors = [_k8s_message(e) for e in sorted(crd.validator.iter_errors(body), key=lambda e: list(e.absolute_path))]
    _list_rules(body, crd.schema, "", errors)
    return errors
