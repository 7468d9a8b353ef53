"""The OpenAI-compatible APIs a benchmark can drive: ``API_KINDS`` is the one list (``task.api``).

An API kind says where requests go and whether the prompt goes in as chat messages or as text."""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class ApiKind:
    name: str
    path: str  # below /v1
    messages: bool  # True: the body carries chat ``messages``; False: a text ``prompt``


API_KINDS: Registry[ApiKind] = Registry("api", "api")
for _kind in (ApiKind("chat", "chat/completions", messages=True), ApiKind("completions", "completions", messages=False)):
    API_KINDS.register(_kind.name, _kind)
