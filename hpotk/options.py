"""Checking the keyword options a strategy component accepts."""

from __future__ import annotations

from typing import Any

from hpotk.errors import ConfigError


def check_options(options: dict[str, Any], allowed: dict[str, type | tuple[type, ...]],
                  path: str) -> dict[str, Any]:
    """Refuse unknown option names and values of the wrong type, naming the key path.

    Args:
        options: the options the user gave.
        allowed: option name -> accepted type(s).
        path: key path of the options mapping, e.g. ``strategy.scheduler``.
    """
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", f"unknown option; valid options: {sorted(allowed)}")
        types = allowed[key]
        if value is not None and not isinstance(value, types):
            names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise ConfigError(f"{path}.{key}", f"expected {names}, got {value!r}")
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise ConfigError(f"{path}.{key}", f"expected a number, got {value!r}")
    return options
