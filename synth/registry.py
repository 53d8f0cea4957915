"""Name -> object registries, filled by a decorator.

Generators (``synth``) and training methods (``dgl``) are looked up by the names a config
uses. A duplicate registration or an unknown name fails loudly and lists the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of objects of one kind (e.g. generators, methods)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")`` adds the decorated object under ``name``."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; known {self.kind}s: {self.names()}"
                )
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The object registered under ``name``; KeyError naming the known ones otherwise."""
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; known {self.kind}s: {self.names()}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
