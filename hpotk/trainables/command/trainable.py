"""`CommandTrainable`: Ray Tune's class API over one external process per trial.

``step`` reads the command's output until the next iteration boundary (a match of the objective
metric, or of the ``step`` regex) and returns the metrics seen so far, so schedulers see the
learning curve and can stop a poor trial early; ``cleanup`` (Tune stopping the trial) and
``reset_config`` (``reuse_actors``) stop the whole process group. Build subclasses with
`make_command_trainable`, which binds the validated spec as ``SPEC``.

Checkpoints: an external process cannot be snapshotted generically. When the command or its
``env`` uses ``{checkpoint_dir}``, the script is expected to save its state there (write to a
temporary file, then rename) and to resume from it when it finds one; ``save_checkpoint`` pauses
the process group (SIGSTOP) while it copies that directory, ``load_checkpoint`` puts it back before
the process starts. Without ``{checkpoint_dir}``, saving is refused with an explanation.

Cost metrics: unlike the built-ins, hpotk cannot measure a script's training time, parameters or
memory; the trial reports whatever the script prints. For accuracy-versus-cost experiments, print
``epoch_s``, ``params`` and ``peak_mem_mb`` as the built-ins define them
(`hpotk.trainables.cost`), with ``hpotk.report(...)`` (every key passes, ints stay ints) or with
a regex per metric (values become floats). A script that dies of an out-of-memory error leaves
its exception line in the trial's error (the last lines of its stderr), where
`hpotk.trainables.cost.is_out_of_memory` recognises it.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.result import RESULT_DUPLICATE

from hpotk.trainables.command import spec as spec_tools
from hpotk.trainables.command.output import MetricScanner
from hpotk.trainables.command.process import END, CommandProcess
from hpotk.trainables.command.spec import CommandFailed

TICK_S = 0.2  # how often a waiting step() checks the timeout and the process
DRAIN_S = 2.0  # after the command exits, how long its leftover children may hold the pipes


class CommandTrainable(tune.Trainable):
    """Runs ``SPEC["command"]`` per trial; see the module docstring."""

    SPEC: dict[str, Any] = {}
    SUPPORTS_CHECKPOINTS = False

    def setup(self, config: dict[str, Any], context: Any = None) -> None:
        self.context = context
        self.spec = self.SPEC
        names = [m["name"] for m in self.spec["metrics"]]
        self.objective = getattr(context, "metric", None) or names[0]
        if self.objective not in names:
            raise CommandFailed(f"trainable.metrics: the objective metric {self.objective!r} is "
                                f"not among the metrics {names}: add it with a regex (or report "
                                "it with hpotk.report)")
        self.process: CommandProcess | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.last: dict[str, Any] = {}  # the latest value of every metric seen
        self.scanner = MetricScanner(self.spec["metrics"], self.objective, self.spec["step"])
        self.results = 0
        self.finished = False

    # -- paths -----------------------------------------------------------------------------------
    @property
    def trial_dir(self) -> Path:
        """The trial's directory under the experiment's results (``results/<name>/<trial>``).

        That is where Tune writes the trial's results when its storage is a local (or shared)
        filesystem, as hpotk configures it; otherwise (and outside Tune) the Trainable's logdir.
        """
        storage = getattr(self, "_storage", None)
        path = self.logdir
        if storage is not None and storage.trial_dir_name is not None:
            from pyarrow.fs import LocalFileSystem

            if isinstance(storage.storage_filesystem, LocalFileSystem):
                path = storage.trial_fs_path
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)

    @property
    def log_path(self) -> Path:
        """Every line the command printed, stdout and stderr, as it arrived."""
        return self.trial_dir / spec_tools.LOG_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.trial_dir / spec_tools.CHECKPOINT_DIR

    # -- running ---------------------------------------------------------------------------------
    def _start(self) -> None:
        config = dict(self.config)
        config_file = self.trial_dir / spec_tools.CONFIG_FILE
        spec_tools.write_config(config, config_file)
        if self.SUPPORTS_CHECKPOINTS:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        builtins = {
            "python": spec_tools.python_executable(), "trial_dir": str(self.trial_dir),
            "trial_id": self.trial_id, "trial_name": self.trial_name,
            "config_file": str(config_file), "checkpoint_dir": str(self.checkpoint_dir),
            "base_dir": self.spec["base_dir"],
            "lr_schedule": json.dumps(getattr(self.context, "lr_schedule", None)),
        }
        argv = spec_tools.build_argv(self.spec, config, builtins)
        env = spec_tools.build_env(self.spec, config, builtins)
        cwd = self.trial_dir
        if self.spec["cwd"]:
            cwd = Path(self.spec["base_dir"], spec_tools.fill(
                self.spec["cwd"], {**config, **builtins}, "trainable.cwd"))
        with open(self.log_path, "a") as log:
            log.write(f"# hpotk: {json.dumps(argv)} in {cwd}\n")
        self.process = CommandProcess.start(argv, str(cwd), env, self.log_path,
                                            self.spec["grace_s"])

    def step(self) -> dict[str, Any]:
        if self.finished:
            raise CommandFailed("the command has already finished; nothing more to train")
        if self.process is None:
            self._start()
        process = self.process
        while True:
            line = process.read(timeout=TICK_S)
            if line is None:
                if self._check_time(process):
                    return self._finish(process)
                continue
            if line is END:
                return self._finish(process)
            if self.scanner.feed(line.text) and self.objective in {**self.last,
                                                                   **self.scanner.pending}:
                return self._result()

    def _result(self) -> dict[str, Any]:
        self.last.update(self.scanner.pending)
        self.scanner.pending.clear()
        self.results += 1
        return dict(self.last)

    def _check_time(self, process: CommandProcess) -> bool:
        """Raise on timeout; True once the command has exited and its output is drained."""
        timeout = self.spec["timeout_s"]
        if timeout is not None and process.elapsed() > timeout:
            process.stop()
            raise CommandFailed(f"the command ran longer than timeout_s={timeout:g} s and was "
                                f"stopped; its output is in {self.log_path}")
        if process.poll() is None or time.monotonic() - process.exited_at < DRAIN_S:
            return False
        # The command exited, but processes it started still hold its output open: stop them.
        # Whatever they printed until now has been read; a process that left the group (setsid)
        # cannot be stopped by hpotk and may keep the pipes open, so do not wait for them.
        process.stop(grace_s=1.0)
        while (line := process.read(timeout=0.5)) not in (None, END):
            self.scanner.feed(line.text)
        return True

    def _finish(self, process: CommandProcess) -> dict[str, Any]:
        while process.poll() is None:  # output closed; wait for the exit status
            time.sleep(TICK_S)
            self._check_time(process)
        process.stop(grace_s=1.0)  # anything the command left behind in its group
        self.finished = True
        status = process.poll()
        if status != 0:
            how = f"exited with code {status}"
            if status < 0:
                try:
                    how = f"was killed by signal {signal.Signals(-status).name}"
                except ValueError:
                    how = f"was killed by signal {-status}"
            tail = "\n".join(process.stderr_tail) or "(no stderr output)"
            raise CommandFailed(f"the command {how}; its output is in {self.log_path}; "
                                f"last lines of stderr:\n{tail}")
        missing = self.scanner.unmatched()
        if missing:
            regexes = ", ".join(f"{m['name']}: {m['regex']!r}" for m in missing)
            raise CommandFailed(f"the command finished without printing a line that matches "
                                f"{regexes}; check the regex against its output in {self.log_path}")
        if self.objective not in {**self.last, **self.scanner.pending}:
            raise CommandFailed(f"the command finished without reporting the objective metric "
                                f"{self.objective!r} (neither by regex nor by hpotk.report); "
                                f"its output is in {self.log_path}")
        if self.scanner.pending:
            return {**self._result(), "done": True}
        return {RESULT_DUPLICATE: True, "done": True}  # Tune marks the last result done

    def _stop_process(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def cleanup(self) -> None:
        self._stop_process()

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._stop_process()
        self._reset_state()
        return True

    # -- checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        if not self.SUPPORTS_CHECKPOINTS:
            raise CommandFailed(
                "the command trainable cannot checkpoint this script: hpotk cannot snapshot an "
                "external process. Put {checkpoint_dir} in trainable.command (or trainable.env) "
                "and make the script save and resume its state there, or use a scheduler that "
                "needs no checkpoints (asha, ahb, median, bandit, truncation, fifo) and "
                "checkpoint.every: 0")
        target = Path(checkpoint_dir)
        process = self.process
        if process is not None:
            process.signal_group(signal.SIGSTOP)  # a consistent copy: nothing writes meanwhile
        try:
            if self.checkpoint_dir.exists():
                shutil.copytree(self.checkpoint_dir, target / "script", dirs_exist_ok=True)
        finally:
            if process is not None:
                process.signal_group(signal.SIGCONT)
        state = {"last": self.last, "results": self.results}
        (target / "hpotk-command.json").write_text(json.dumps(state, default=float))

    def load_checkpoint(self, checkpoint: Any) -> None:
        self._stop_process()
        source = Path(checkpoint)
        if self.checkpoint_dir.exists():
            shutil.rmtree(self.checkpoint_dir)
        if (source / "script").exists():
            shutil.copytree(source / "script", self.checkpoint_dir)
        state = json.loads((source / "hpotk-command.json").read_text())
        self._reset_state()
        self.last = dict(state["last"])
        self.results = int(state["results"])


def make_command_trainable(spec: dict[str, Any]) -> type:
    """A ``ray.tune.Trainable`` subclass running ``spec``'s command, one process per trial.

    ``spec`` is validated again (cheap, idempotent). The class takes
    ``setup(config, context=TrainContext)`` as the runner passes it with ``tune.with_parameters``;
    its objective is ``context.metric`` (without a context: the first metric listed). Its
    ``SUPPORTS_CHECKPOINTS`` says whether it can save and restore (see `supports_checkpoints`);
    schedulers that pause or clone trials (pbt, synchronous hyperband) need that.
    """
    checked = spec_tools.validate_command_spec(spec)
    return type("CommandTrainable", (CommandTrainable,), {
        "SPEC": checked,
        "SUPPORTS_CHECKPOINTS": spec_tools.supports_checkpoints(checked),
        "__module__": CommandTrainable.__module__,
    })
