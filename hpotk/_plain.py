"""One conversion of numpy (and torch) values to plain Python, for JSON, YAML, CSV and pickles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def plain(value: Any, otherwise: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as plain Python: numpy scalars, 0-d arrays and 0-d tensors -> ``int``/``float``/
    ``bool``/``str``; arrays -> lists. Anything else as it is, or ``otherwise(value)`` if given
    (e.g. ``float`` or ``str``, as the ``default`` of ``json.dumps``).
    """
    if not isinstance(value, (str, bytes, list, tuple, dict)):
        item = getattr(value, "item", None)
        if callable(item):
            try:
                return item()
            except (ValueError, TypeError, RuntimeError):  # more than one element
                pass
        tolist = getattr(value, "tolist", None)
        if callable(tolist):
            return tolist()
    return otherwise(value) if otherwise is not None else value
