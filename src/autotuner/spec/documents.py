"""Task documents (YAML or JSON text) parsed within limits.

PyYAML's safe loader still builds whatever the text describes: nested aliases that expand to 10^9
nodes (billion laughs), 5,000 levels of nesting (a RecursionError later), and a key given twice
(the last one silently wins). Before anything is built, one pass over the parser's events measures
the nesting depth and the size of the document with every alias expanded, and refuses it past
``MAX_DEPTH`` / ``MAX_NODES``; the constructor then refuses duplicate keys.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .errors import SpecError
from .limits import MAX_DEPTH, MAX_NODES

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 10x faster
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NoDuplicateKeysLoader(_Loader):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):  # noqa: ANN001
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # "<<: *defaults" merges; keys given beside it override, as YAML says
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base constructor names it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice (the second would silently win)",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def _line(event: yaml.Event) -> str:
    return f"line {event.start_mark.line + 1}"


def check_yaml_shape(text: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or larger than MAX_NODES with aliases expanded.

    Works on the parser's event stream, which is flat: nothing is built, and an alias costs the
    size of its anchor, counted once per use. Raises ValueError with the line.
    """
    open_nodes: list[list[Any]] = []  # [expanded size so far, anchor] per open mapping/sequence
    anchors: dict[str, int] = {}
    total = 0
    for event in yaml.parse(text, Loader=_Loader):
        size = None
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_nodes.append([1, event.anchor])
            if len(open_nodes) > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels ({_line(event)})")
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size, anchor = open_nodes.pop()
            if anchor is not None:
                anchors[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                if any(anchor == event.anchor for _, anchor in open_nodes):
                    raise ValueError(f"alias *{event.anchor} refers to itself ({_line(event)})")
                continue  # an unknown anchor: the composer reports it
            size = anchors[event.anchor]
        if size is None:
            continue
        total += size if not open_nodes else 0
        if open_nodes:
            open_nodes[-1][0] += size
        if total > MAX_NODES or (open_nodes and open_nodes[-1][0] > MAX_NODES):
            raise ValueError(f"expands to more than {MAX_NODES:,} values once its aliases are expanded "
                             f"({_line(event)}): aliases nested inside aliases (a 'billion laughs' file?)")


def load_yaml(text: str, source: str = "task") -> Any:
    """The document YAML (or JSON) text describes, or SpecError naming the problem and its line."""
    try:
        check_yaml_shape(text)
        return yaml.load(text, Loader=_NoDuplicateKeysLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        if "nesting depth" in str(e):  # libyaml's own limit (1,000) hit while reading ahead of ours
            raise SpecError([f"(file): nested deeper than {MAX_DEPTH} levels"], source) from None
        raise SpecError([f"(file): not valid YAML/JSON: {e}"], source) from None
    except (ValueError, RecursionError) as e:  # our limits; an integer of 5,000 digits
        raise SpecError([f"(file): {e if not isinstance(e, RecursionError) else 'nested too deep'}"],
                        source) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice (the second would silently win)")
        out[key] = value
    return out


def depth_of(value: Any) -> int:
    """Nesting depth of mappings/lists, without recursion (a RecursionError is what we avoid)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(value: Any, where: str = "(body)", source: str = "task") -> None:
    if depth_of(value) > MAX_DEPTH:
        raise SpecError([f"{where}: nested deeper than {MAX_DEPTH} levels"], source)


def load_json(text: str, where: str = "(body)", source: str = "task") -> Any:
    """JSON text as Python values: duplicate keys and nesting past MAX_DEPTH refused."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise SpecError([f"{where}: nested deeper than {MAX_DEPTH} levels"], source) from None
    except ValueError as e:  # JSONDecodeError, a duplicate key, an integer of 5,000 digits
        raise SpecError([f"{where}: not valid JSON: {e}"], source) from None
    check_depth(value, where, source)
    return value
