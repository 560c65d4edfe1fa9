"""`hpotk.report(**metrics)`: the opt-in helper for scripts tuned by the `command` trainable.

It prints one JSON line per call, prefixed so the trainable can parse it without regexes.
It has no dependency beyond the standard library, so a script can import it cheaply.
"""

from __future__ import annotations

import json
import sys

PREFIX = "@hpotk "


def report(**metrics: float) -> None:
    """Print ``metrics`` as one line the `command` trainable turns into an intermediate result."""
    line = PREFIX + json.dumps(metrics, default=float, allow_nan=True)
    print(line, file=sys.stdout, flush=True)
