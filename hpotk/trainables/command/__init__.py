"""The ``command`` trainable: an unmodified training script per trial (see `spec`).

`spec` validates the experiment file's mapping and builds a trial's argument list and
environment (no Ray); `output` turns output lines into metrics; `process` runs the command in
its own process group, under `_guard`; `trainable` is the Ray Trainable class, imported only by
`make_command_trainable`.
"""

from typing import Any

from hpotk.trainables.command.spec import (  # noqa: F401 - the package's public names
    CHECKPOINT_DIR,
    CONFIG_FILE,
    LOG_FILE,
    RESERVED_METRICS,
    CommandFailed,
    build_argv,
    build_env,
    env_name,
    format_value,
    placeholders,
    refuse_without_checkpoints,
    supports_checkpoints,
    validate_command_spec,
    write_config,
)


def make_command_trainable(spec: dict[str, Any]) -> type:
    """The Ray Trainable class running ``spec``'s command (`trainable.make_command_trainable`;
    imports Ray)."""
    from hpotk.trainables.command.trainable import make_command_trainable as make

    return make(spec)
