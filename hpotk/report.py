"""`hpotk.report(**metrics)`: the opt-in helper for scripts tuned by the `command` trainable.

Each call prints one line ``@hpotk {"loss": 0.25, "epoch": 3}`` to stdout, flushed at once. The
`command` trainable reads every key of such a line as a metric, with no regex; a line that holds
the objective metric ends an iteration (unless the experiment sets a ``step`` regex). It needs
nothing beyond the standard library, so a script can import it cheaply, or copy these few lines.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from typing import Any

from hpotk._plain import plain

PREFIX = "@hpotk "


def report(metrics: Mapping[str, Any] | None = None, /, **more: Any) -> None:
    """Print ``metrics`` (a mapping, keyword arguments, or both) as one ``@hpotk`` JSON line.

    Values are numbers (numpy and 0-d torch scalars are converted), strings or booleans; NaN and
    infinities are written as JSON's ``NaN``/``Infinity``, which the trainable reads back.

    Example:
        >>> report(loss=0.25, epoch=3)
        @hpotk {"loss": 0.25, "epoch": 3}
    """
    values = {**(metrics or {}), **more}
    line = PREFIX + json.dumps(values, default=functools.partial(plain, otherwise=float),
                               allow_nan=True)
    print(line, file=sys.stdout, flush=True)

