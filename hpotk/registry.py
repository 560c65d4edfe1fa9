"""Name -> implementation registries that import lazily and refuse unknown names with the choices."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from hpotk.errors import ConfigError


class Registry:
    """Maps a name to ``"module.path:attribute"``; the module is imported on first use.

    Args:
        kind: what the registry holds ("searcher", "scheduler", ...), used in error messages.
        entries: name -> "module:attribute".
    """

    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def register(self, name: str, target: str) -> None:
        self._entries[name] = target

    def resolve(self, name: str, path: str = "") -> Callable[..., Any]:
        """The object registered as ``name``; ConfigError naming the choices if there is none."""
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                path, f"unknown {self.kind} {name!r}{hint}; choose one of {self.names()}"
            )
        module_name, _, attribute = self._entries[name].partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
