"""Named lists that can grow: engines, GPUs, search strategies, API kinds, deployers.

Each list is one ``Registry``, defined where its entries are (``engines.ENGINES``,
``hardware.gpus.GPUS``, ``search.strategies.STRATEGIES``, ``bench.api_kinds.API_KINDS``,
``deploy.registry.DEPLOYERS``). Adding an entry is one ``register`` call; the task spec's
validators and every error message read the names from the registry, so nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """``what`` names an entry in messages ("engine", "GPU"); ``field`` is the task field it fills."""

    def __init__(self, what: str, field: str):
        self.what, self.field = what, field
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if not name or name != name.strip():
            raise ValueError(f"a {self.what} needs a name without surrounding spaces (got {name!r})")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def problem(self, name: Any) -> str | None:
        """Why ``name`` is not an entry (the message names the field and the allowed values), or None."""
        if isinstance(name, str) and name in self._entries:
            return None
        return f"unknown {self.what} {name!r}; allowed: {', '.join(map(repr, self._entries))}"

    def check(self, name: Any) -> str:
        """``name``, when it is an entry; else ValueError (pydantic validators raise it as is)."""
        problem = self.problem(name)
        if problem:
            raise ValueError(problem)
        return name

    def get(self, name: str, default: Any = None) -> Any:  # Mapping.get: no error, as for a dict
        return self._entries.get(name, default)

    def entry(self, name: str) -> T:
        """The entry named ``name``; ValueError listing the names when there is none."""
        return self._entries[self.check(name)]

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the entry named ``name`` (a class or factory) with the arguments."""
        factory: Any = self.entry(name)
        return factory(*args, **kwargs)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what}: {', '.join(self._entries)})"
