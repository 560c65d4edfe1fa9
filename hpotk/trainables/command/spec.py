"""The ``command`` trainable: tune an unmodified training script (as SageMaker, ModelArts and Azure ML sweeps do).

In the experiment file::

    trainable:
      command: ["{python}", scripts/train.py, --epochs, "20"]   # an argument list, never a string
      metrics:                                                   # the first one is the default objective
        - {name: test_loss, regex: 'Test set: Average loss: ([0-9.]+)'}
        - {name: test_acc, regex: 'Accuracy: \\d+/\\d+ \\(([0-9.]+)%\\)'}
      step: 'Epoch \\d+ done'      # optional: a result per match of this, not of the objective
      args: "--name value"         # how hyperparameters are passed: "--name value" (default),
                                   # "--name=value", "env" (HPOTK_<NAME>) or "none"
      env: {OMP_NUM_THREADS: "1"}  # extra environment variables (placeholders allowed)
      cwd: null                    # working directory [the trial directory]
      timeout_s: null              # stop the command after this many seconds (a trial error)
    lr_schedule: {type: multistep, milestones: [10], gamma: 0.3}   # optional, top level: the
                                   # script gets it as JSON in HPOTK_LR_SCHEDULE and {lr_schedule}
                                   # (hpotk.lr_schedule.torch_scheduler builds torch's scheduler)
      grace_s: 10                  # SIGTERM, then SIGKILL this many seconds later

This module holds what needs no Ray: validating that mapping (`validate_command_spec`) and
building the argument list and environment of a trial (`build_argv`, `build_env`). The package's
other modules: `output` turns output lines into metrics (`MetricScanner`), `process` runs the
command in its own process group (under `_guard`), `trainable` is the Trainable class (Ray),
which `hpotk.trainables.command.make_command_trainable` imports lazily.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpotk._plain import plain
from hpotk.errors import ConfigError, HpotkError

_JSON_DEFAULT = functools.partial(plain, otherwise=str)  # numpy values, else their text

ARG_STYLES = ("--name value", "--name=value", "env", "none")
SPEC_KEYS = ("command", "metrics", "step", "args", "env", "cwd", "timeout_s", "grace_s",
             "base_dir")
METRIC_KEYS = ("name", "regex")
#: placeholders hpotk fills besides the hyperparameters (these names win over a hyperparameter's).
BUILTIN_PLACEHOLDERS = ("python", "trial_dir", "trial_id", "trial_name", "config_file",
                        "checkpoint_dir", "base_dir", "lr_schedule")
#: result keys Ray Tune fills itself; a metric must not take one of these names.
RESERVED_METRICS = frozenset({
    "done", "training_iteration", "time_this_iter_s", "time_total_s", "timestamp", "trial_id",
    "experiment_id", "date", "pid", "hostname", "node_ip", "config", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "episodes_total", "should_checkpoint",
    "__duplicate__",
})
DEFAULT_GRACE_S = 10.0
CONFIG_FILE = "hpotk-config.json"
LOG_FILE = "command.log"
CHECKPOINT_DIR = "script-checkpoint"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CommandFailed(HpotkError):
    """A trial of the command trainable failed: exit status, timeout, a metric never matched."""


# -- validation ------------------------------------------------------------------------------------
def validate_command_spec(spec: Any, path: str = "trainable", *, base_dir: str | None = None,
                          objective: str | None = None) -> dict[str, Any]:
    """Check a ``trainable: {command: ...}`` mapping and return it normalised.

    Normalised: defaults filled in, ``command`` and ``env`` values as strings, ``base_dir``
    absolute, and each relative path in ``command`` that names an existing file under
    ``base_dir`` made absolute (trials run in their own directories). Idempotent.

    Args:
        spec: the mapping from the experiment file.
        path: its key path, for error messages.
        base_dir: the experiment file's directory, which relative paths refer to (default: the
            spec's ``base_dir``, else the current directory).
        objective: the experiment's objective metric; if given, it must be one of ``metrics``.

    Raises:
        ConfigError: naming the key path, the value received and what is allowed.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(path, f"expected a mapping with 'command' and 'metrics', got {spec!r}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ConfigError(f"{path}.{key}", f"unknown key; valid keys: {list(SPEC_KEYS)}")
    out: dict[str, Any] = {}
    base = spec.get("base_dir") if base_dir is None else base_dir
    if base is not None and not isinstance(base, str):
        raise ConfigError(f"{path}.base_dir", f"expected a directory path, got {base!r}")
    out["base_dir"] = os.path.abspath(base or os.getcwd())
    out["command"] = _check_command(spec.get("command"), f"{path}.command", out["base_dir"])
    out["metrics"] = _check_metrics(spec.get("metrics"), f"{path}.metrics")
    step = spec.get("step")
    if step is not None:
        _compile(step, f"{path}.step", groups=False)
    out["step"] = step
    style = spec.get("args", "--name value")
    if style not in ARG_STYLES:
        raise ConfigError(f"{path}.args", f"unknown argument style {style!r}; valid styles: "
                          f"{list(ARG_STYLES)} (\"env\" sets HPOTK_<NAME>, \"none\" passes only "
                          "the {name} placeholders and the HPOTK_CONFIG file)")
    out["args"] = style
    out["env"] = _check_env(spec.get("env") or {}, f"{path}.env")
    cwd = spec.get("cwd")
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd:
            raise ConfigError(f"{path}.cwd", f"expected a directory path, got {cwd!r}")
        _placeholders(cwd, f"{path}.cwd")
    out["cwd"] = cwd
    out["timeout_s"] = _check_seconds(spec.get("timeout_s"), f"{path}.timeout_s", allow_zero=False)
    grace = spec.get("grace_s", DEFAULT_GRACE_S)
    out["grace_s"] = _check_seconds(grace, f"{path}.grace_s", allow_zero=True)
    if objective is not None and objective not in [m["name"] for m in out["metrics"]]:
        raise ConfigError(f"{path}.metrics", f"the objective metric {objective!r} is not among "
                          f"the metrics {[m['name'] for m in out['metrics']]}: add "
                          f"{{name: {objective}, regex: '...'}} (or report it with hpotk.report)")
    return out


def _check_command(command: Any, path: str, base_dir: str) -> list[str]:
    if command is None:
        raise ConfigError(path, "missing: give the script to run as an argument list, e.g. "
                          "[\"{python}\", train.py, --epochs, \"10\"]")
    if isinstance(command, str):
        try:
            hint = json.dumps(shlex.split(command))
        except ValueError:
            hint = '["python", "train.py", ...]'
        raise ConfigError(path, f"must be an argument list, not a string (hpotk never splits a "
                          f"command, so arguments with spaces stay intact): got {command!r}; "
                          f"write {hint}")
    if not isinstance(command, (list, tuple)) or not command:
        raise ConfigError(path, f"expected a non-empty argument list, got {command!r}")
    out = []
    for i, item in enumerate(command):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ConfigError(f"{path}[{i}]", f"expected a string or a number, got {item!r}")
        item = str(item)
        _placeholders(item, f"{path}[{i}]")
        out.append(_resolve_file(item, base_dir))
    return out


def _resolve_file(item: str, base_dir: str) -> str:
    if not item or item.startswith("-") or "{" in item or os.path.isabs(item):
        return item
    candidate = Path(base_dir, item)
    return str(candidate) if candidate.is_file() else item


def _check_metrics(metrics: Any, path: str) -> list[dict[str, Any]]:
    example = "[{name: test_loss, regex: 'Test set: Average loss: ([0-9.]+)'}]"
    if metrics is None:
        raise ConfigError(path, f"missing: say which metrics to read from the output, e.g. {example}")
    if not isinstance(metrics, (list, tuple)) or not metrics:
        raise ConfigError(path, f"expected a non-empty list like {example}, got {metrics!r}")
    out, names = [], set()
    for i, metric in enumerate(metrics):
        where = f"{path}[{i}]"
        if not isinstance(metric, Mapping):
            raise ConfigError(where, f"expected a mapping {{name, regex}}, got {metric!r}")
        for key in metric:
            if key not in METRIC_KEYS:
                raise ConfigError(f"{where}.{key}", f"unknown key; valid keys: {list(METRIC_KEYS)}")
        name = metric.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name", f"expected a metric name, got {name!r}")
        if name in RESERVED_METRICS:
            raise ConfigError(f"{where}.name", f"{name!r} is a result key Ray Tune fills itself; "
                              "choose another name")
        if name in names:
            raise ConfigError(f"{where}.name", f"metric {name!r} is listed twice")
        names.add(name)
        regex = metric.get("regex")
        if regex is not None:
            _compile(regex, f"{where}.regex", groups=True)
        out.append({"name": name, "regex": regex})
    return out


def _compile(regex: Any, path: str, groups: bool) -> re.Pattern:
    if not isinstance(regex, str) or not regex:
        raise ConfigError(path, f"expected a regular expression, got {regex!r}")
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ConfigError(path, f"invalid regular expression {regex!r}: {exc}") from None
    if groups and pattern.groups == 0:
        raise ConfigError(path, f"regular expression {regex!r} has no group: put parentheses "
                          "around the number, e.g. 'loss: ([0-9.eE+-]+)' (or name it (?P<value>...))")
    return pattern


def _check_env(env: Any, path: str) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise ConfigError(path, f"expected a mapping of variable names to values, got {env!r}")
    out = {}
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise ConfigError(f"{path}.{key}", "not a valid environment variable name")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path}.{key}", f"expected a string or a number, got {value!r}")
        _placeholders(str(value), f"{path}.{key}")
        out[key] = str(value)
    return out


def _check_seconds(value: Any, path: str, allow_zero: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            value == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ConfigError(path, f"expected a number of seconds {rule}, got {value!r}")
    return float(value)


# -- placeholders, arguments, environment -----------------------------------------------------------
def _placeholders(text: str, path: str) -> list[str]:
    """Names of the ``{name}`` placeholders in ``text`` (``{{``/``}}`` are literal braces)."""
    names = []
    for match in _PLACEHOLDER.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if token in ("{", "}") or not match.group(1).strip():
            raise ConfigError(path, f"unbalanced or empty placeholder in {text!r}: write "
                              "{name} for a value, {{ and }} for literal braces")
        names.append(match.group(1))
    return names


def placeholders(spec: dict[str, Any]) -> set[str]:
    """Every placeholder name used in ``command``, ``env`` and ``cwd`` of a validated spec."""
    texts = list(spec["command"]) + list(spec["env"].values()) + [spec.get("cwd") or ""]
    return {name for text in texts for name in _placeholders(text, "trainable")}


def supports_checkpoints(spec: dict[str, Any]) -> bool:
    """True when the script is given ``{checkpoint_dir}`` to save and resume its state."""
    return "checkpoint_dir" in placeholders(spec)


def refuse_without_checkpoints(spec: dict[str, Any], why: str,
                               path: str = "trainable.command") -> None:
    """Raise a ConfigError if the command cannot checkpoint but ``why`` needs it.

    For the runner: call it when the scheduler pauses or clones trials (pbt, synchronous
    hyperband) or the experiment asks for checkpoints (``checkpoint.every``/``at_end``).

    Args:
        spec: a validated command spec.
        why: what needs checkpoints, e.g. ``"strategy.scheduler pbt"``.
    """
    if not supports_checkpoints(spec):
        raise ConfigError(path, f"{why} needs checkpoints, and hpotk cannot snapshot an external "
                          "process: put {checkpoint_dir} in the command (or env) and make the "
                          "script save its state there and resume from it, or use a scheduler "
                          "that only stops trials (asha, ahb, median, bandit, truncation, fifo) "
                          "with checkpoint.every: 0 and checkpoint.at_end: false")


def format_value(value: Any) -> str:
    """A hyperparameter as a command-line string: numbers and strings as Python writes them
    (``0.001``, ``64``, ``True``), lists and mappings as JSON."""
    value = plain(value)  # numpy scalars
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=_JSON_DEFAULT)
    return str(value)


def env_name(name: str) -> str:
    """``HPOTK_<NAME>``: upper-cased, every character outside [A-Za-z0-9_] replaced by ``_``."""
    return "HPOTK_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def fill(text: str, values: Mapping[str, Any], path: str) -> str:
    """``text`` with each ``{name}`` replaced by ``values[name]``.

    Raises:
        CommandFailed: a placeholder names neither a hyperparameter nor a built-in value.
    """
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            hyper = sorted(k for k in values if k not in BUILTIN_PLACEHOLDERS)
            raise CommandFailed(f"{path}: placeholder {{{name}}} in {text!r} is neither a "
                                f"hyperparameter {hyper} nor one of {list(BUILTIN_PLACEHOLDERS)}")
        return format_value(values[name])

    _placeholders(text, path)
    return _PLACEHOLDER.sub(replace, text)


def build_argv(spec: dict[str, Any], config: Mapping[str, Any], builtins: Mapping[str, Any],
               path: str = "trainable.command") -> list[str]:
    """The trial's argument list: ``command`` with placeholders filled, then the hyperparameters
    not used as a placeholder, in the spec's ``args`` style."""
    values = {**config, **builtins}
    argv = [fill(item, values, f"{path}[{i}]") for i, item in enumerate(spec["command"])]
    used = placeholders(spec)
    style = spec["args"]
    for name, value in config.items():
        if name in used:
            continue
        if style == "--name value":
            argv += [f"--{name}", format_value(value)]
        elif style == "--name=value":
            argv.append(f"--{name}={format_value(value)}")
    return argv


def build_env(spec: dict[str, Any], config: Mapping[str, Any], builtins: Mapping[str, Any],
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The trial's environment: ``base`` (default: this process's), unbuffered Python output,
    ``HPOTK_CONFIG``/``HPOTK_TRIAL_DIR``/``HPOTK_TRIAL_ID``, ``HPOTK_<NAME>`` per hyperparameter
    when ``args`` is ``env``, then the spec's ``env`` with placeholders filled."""
    env = dict(os.environ if base is None else base)
    env.setdefault("PYTHONUNBUFFERED", "1")  # a Python script's prints reach us as they happen
    env["HPOTK_CONFIG"] = str(builtins["config_file"])
    env["HPOTK_TRIAL_DIR"] = str(builtins["trial_dir"])
    env["HPOTK_TRIAL_ID"] = str(builtins["trial_id"])
    if supports_checkpoints(spec):
        env["HPOTK_CHECKPOINT_DIR"] = str(builtins["checkpoint_dir"])
    if builtins.get("lr_schedule", "null") != "null":  # the experiment's lr_schedule, as JSON
        env["HPOTK_LR_SCHEDULE"] = str(builtins["lr_schedule"])
    if spec["args"] == "env":
        for name, value in config.items():
            env[env_name(name)] = format_value(value)
    values = {**config, **builtins}
    for key, value in spec["env"].items():
        env[key] = fill(value, values, f"trainable.env.{key}")
    return env


def write_config(config: Mapping[str, Any], path: Path) -> None:
    """The whole config as JSON (the file ``HPOTK_CONFIG`` names)."""
    path.write_text(json.dumps(dict(config), indent=2, default=_JSON_DEFAULT) + "\n")


def python_executable() -> str:
    """What ``{python}`` stands for: the interpreter running hpotk (and Ray's workers)."""
    return sys.executable
