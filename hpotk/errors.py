"""User-facing errors: the CLI prints them as one line and exits with status 2."""

from __future__ import annotations


class HpotkError(Exception):
    """Something the user asked for cannot be done; the message says what and how to fix it."""


class ConfigError(HpotkError):
    """A value in an experiment file, search space or override is invalid.

    Args:
        path: dotted key path of the offending value, e.g. ``space.1-tier-param[2].range``.
        message: the rule and the value received, e.g. ``low 0.1 must be < high 0.01``.
        source: the file (or ``--set``) the value came from, if known.
    """

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.message = message
        self.source = source
        super().__init__(self._format())

    def __reduce__(self):  # survives pickling (Ray sends errors back from workers)
        return (type(self), (self.path, self.message, self.source))

    def _format(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.message}"

    def within(self, prefix: str, source: str | None = None) -> ConfigError:
        """The same error with ``prefix`` put in front of its key path."""
        path = f"{prefix}.{self.path}" if self.path and prefix else (prefix or self.path)
        if self.path.startswith("["):
            path = f"{prefix}{self.path}"
        return ConfigError(path, self.message, source or self.source)
