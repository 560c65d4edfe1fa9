"""The ``command`` trainable: an unmodified training script per trial (see `spec`).

`spec` validates the experiment file's mapping and builds a trial's argument list and
environment (no Ray); `output` turns output lines into metrics; `process` runs the command in
its own process group, under `_guard`; `trainable` is the Ray Trainable class, imported only by
`make_command_trainable`.
"""

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
    make_command_trainable,
    placeholders,
    refuse_without_checkpoints,
    supports_checkpoints,
    validate_command_spec,
    write_config,
)
