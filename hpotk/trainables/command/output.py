"""Output lines of a command trial -> metric values and iteration boundaries.

A metric's regex takes its value from group ``value`` if it has one, else group 1; a line holding
``@hpotk {json}`` (`hpotk.report`) gives every key of the object, with no regex.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from hpotk.report import PREFIX as REPORT_PREFIX
from hpotk.trainables.command.spec import RESERVED_METRICS, CommandFailed


@dataclass
class MetricScanner:
    """Turns output lines into metric values and iteration boundaries.

    Args:
        metrics: the validated ``metrics`` list.
        objective: the metric whose match ends an iteration (unless ``step`` is given).
        step: the validated ``step`` regex, or None.
    """

    metrics: list[dict[str, Any]]
    objective: str
    step: str | None = None
    pending: dict[str, Any] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._patterns = [(m["name"], re.compile(m["regex"])) for m in self.metrics if m["regex"]]
        self._step = re.compile(self.step) if self.step else None

    def feed(self, line: str) -> bool:
        """Scan one line; its values go to ``pending``. True if the line ends an iteration.

        Raises:
            CommandFailed: a regex captured something that is not a number.
        """
        boundary = False
        start = line.find(REPORT_PREFIX)
        if start >= 0:
            reported = _parse_report(line[start + len(REPORT_PREFIX):])
            for name, value in reported.items():
                self.pending[name] = value
                self.matched.add(name)
            boundary = self._step is None and self.objective in reported
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if match is None:
                continue
            text = match.group("value") if "value" in pattern.groupindex else match.group(1)
            try:
                value = float(text)
            except (TypeError, ValueError):
                raise CommandFailed(f"metric {name!r}: regex {pattern.pattern!r} captured "
                                    f"{text!r}, not a number, from the line {line!r}") from None
            self.pending[name] = value
            self.matched.add(name)
            if self._step is None and name == self.objective:
                boundary = True
        if self._step is not None and self._step.search(line):
            boundary = True
        return boundary

    def unmatched(self) -> list[dict[str, Any]]:
        """Metrics with a regex that has not matched any line so far."""
        return [m for m in self.metrics if m["regex"] and m["name"] not in self.matched]


def _parse_report(text: str) -> dict[str, Any]:
    """The metrics of one ``@hpotk {json}`` line; anything that is not a JSON object gives {}."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if str(k) not in RESERVED_METRICS}
