"""The `command` trainable: spec validation, arguments, output scanning, failures, stopping.

The Trainable class is driven directly (``cls(config=...)``, ``train()``, ``stop()``), without
``ray.init``; the scripts it runs are the tiny ones in ``scripts/``.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from hpotk.errors import ConfigError
from hpotk.report import report
from hpotk.trainables.command import (
    CommandFailed,
    build_argv,
    env_name,
    make_command_trainable,
    validate_command_spec,
)
from hpotk.trainables.command.output import MetricScanner
from hpotk.trainables.command.process import END, CommandProcess, group_members

SCRIPTS = Path(__file__).parent / "scripts"
LOSS = {"name": "loss", "regex": r"loss[:=] ?([0-9.]+)"}


@pytest.fixture
def trainables(tmp_path, monkeypatch):
    """``make(config, **spec)`` -> a started CommandTrainable; every one is stopped afterwards."""
    import ray.tune.trainable.trainable as trainable_module

    monkeypatch.setattr(trainable_module, "DEFAULT_STORAGE_PATH", str(tmp_path / "trials"))
    made = []

    def make(config=None, **spec):
        spec.setdefault("metrics", [LOSS])
        spec.setdefault("grace_s", 2)
        cls = make_command_trainable(spec)
        trainable = cls(config=dict(config or {}))
        made.append(trainable)
        return trainable

    yield make
    for trainable in made:
        trainable.stop()


def script(name: str) -> list[str]:
    return ["{python}", str(SCRIPTS / name)]


def alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


# -- validation ------------------------------------------------------------------------------------
def spec(**overrides):
    base = {"command": ["python", "train.py"], "metrics": [LOSS]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("bad, path, words", [
    (spec(command=None), "trainable.command", "missing"),
    (spec(command="python train.py --lr 0.1"), "trainable.command",
     'argument list, not a string'),
    (spec(command=[]), "trainable.command", "non-empty argument list"),
    (spec(command=["python", None]), "trainable.command[1]", "string or a number"),
    (spec(command=["python", "--lr={lr"]), "trainable.command[1]", "unbalanced"),
    (spec(metrics=None), "trainable.metrics", "missing"),
    (spec(metrics=[]), "trainable.metrics", "non-empty list"),
    (spec(metrics=[{"regex": "x(1)"}]), "trainable.metrics[0].name", "metric name"),
    (spec(metrics=[{"name": "loss", "regex": "loss: ([0-9.]+"}]),
     "trainable.metrics[0].regex", "invalid regular expression 'loss: ([0-9.]+': missing ),"),
    (spec(metrics=[{"name": "loss", "regex": "loss: [0-9.]+"}]),
     "trainable.metrics[0].regex", "has no group"),
    (spec(metrics=[{"name": "loss", "regexp": "x"}]), "trainable.metrics[0].regexp",
     "unknown key"),
    (spec(metrics=[LOSS, LOSS]), "trainable.metrics[1].name", "listed twice"),
    (spec(metrics=[{"name": "done", "regex": "(x)"}]), "trainable.metrics[0].name",
     "Ray Tune fills itself"),
    (spec(step="epoch ("), "trainable.step", "invalid regular expression 'epoch ('"),
    (spec(args="--name:value"), "trainable.args", "unknown argument style"),
    (spec(commands=["x"]), "trainable.commands", "unknown key; valid keys"),
    (spec(timeout_s=0), "trainable.timeout_s", "> 0"),
    (spec(grace_s=-1), "trainable.grace_s", ">= 0"),
    (spec(env={"A B": "1"}), "trainable.env.A B", "not a valid environment variable"),
])
def test_invalid_specs_are_refused_naming_the_key(bad, path, words):
    with pytest.raises(ConfigError) as info:
        validate_command_spec(bad)
    assert info.value.path == path
    assert words in info.value.message


def test_command_string_error_suggests_the_list():
    with pytest.raises(ConfigError, match=r'\["python", "train.py", "--name", "a b"\]'):
        validate_command_spec(spec(command="python train.py --name 'a b'"))


def test_objective_must_be_a_metric():
    with pytest.raises(ConfigError, match="objective metric 'acc' is not among"):
        validate_command_spec(spec(), objective="acc")
    validate_command_spec(spec(), objective="loss")


def test_normalised_spec_resolves_files_and_is_idempotent(tmp_path):
    (tmp_path / "train.py").write_text("")
    checked = validate_command_spec(spec(command=["python", "train.py", "--out", "x.txt", 3]),
                                    base_dir=str(tmp_path))
    assert checked["command"] == ["python", str(tmp_path / "train.py"), "--out", "x.txt", "3"]
    assert checked["args"] == "--name value" and checked["grace_s"] == 10.0
    assert validate_command_spec(checked) == checked


# -- arguments, placeholders, environment, working directory ---------------------------------------
TRICKY = "a b 'c\" d $HOME `x` ; e"


@pytest.mark.parametrize("style, extra_argv, extra_env", [
    ("--name value", ["--batch-size", "32", "--name", TRICKY], {}),
    ("--name=value", ["--batch-size=32", f"--name={TRICKY}"], {}),
    ("env", [], {"HPOTK_BATCH_SIZE": "32", "HPOTK_NAME": TRICKY}),
    ("none", [], {}),
])
def test_hyperparameters_reach_the_script(trainables, style, extra_argv, extra_env):
    config = {"lr": 0.1, "batch-size": 32, "name": TRICKY}
    t = trainables(config, command=script("echo_args.py") + ["--lr", "{lr}", "{trial_dir}/x"],
                   args=style, env={"EXTRA": "lr={lr} {{literal}}"})
    result = t.train()
    assert result["loss"] == 0.5 and result["training_iteration"] == 1
    seen = json.loads((Path(t.logdir) / "seen.json").read_text())
    # {lr} is used as a placeholder, so it is not passed again as --lr
    assert seen["argv"] == ["--lr", "0.1", f"{t.logdir}/x"] + extra_argv
    assert seen["config"] == config
    assert seen["cwd"] == os.path.realpath(t.logdir)
    env = seen["env"]
    assert env["EXTRA"] == "lr=0.1 {literal}"
    assert env["HPOTK_TRIAL_DIR"] == t.logdir and Path(env["HPOTK_CONFIG"]).parent == Path(t.logdir)
    for key, value in extra_env.items():
        assert env[key] == value
    if style != "env":
        assert "HPOTK_LR" not in env


def test_cwd_option_with_a_placeholder(trainables, tmp_path):
    work = tmp_path / "work-0.5"
    work.mkdir()
    t = trainables({"drop": 0.5}, command=script("echo_args.py"), args="none",
                   cwd=str(tmp_path / "work-{drop}"))
    t.train()
    assert json.loads((work / "seen.json").read_text())["cwd"] == os.path.realpath(work)


def test_env_name_and_build_argv_formats_values():
    assert env_name("batch-size") == "HPOTK_BATCH_SIZE"
    assert env_name("model.lr") == "HPOTK_MODEL_LR"
    checked = validate_command_spec(spec(command=["run"]))
    argv = build_argv(checked, {"flag": True, "sizes": [1, 2], "lr": 1e-5}, {})
    assert argv == ["run", "--flag", "True", "--sizes", "[1, 2]", "--lr", "1e-05"]


def test_unknown_placeholder_is_a_clear_trial_error(trainables):
    t = trainables({"lr": 0.1}, command=script("echo_args.py") + ["--x", "{momentum}"])
    with pytest.raises(CommandFailed, match=r"placeholder \{momentum\}.*neither a hyperparameter"):
        t.train()


# -- output: learning curves, two metrics per line, step regex, hpotk.report -----------------------
TWO = [{"name": "loss", "regex": r"loss=([0-9.]+)"},
       {"name": "acc", "regex": r"acc=(?P<value>[0-9.]+)"}]


def test_each_objective_match_is_one_iteration_with_both_metrics_of_the_line(trainables):
    from ray.tune.result import RESULT_DUPLICATE

    t = trainables(command=script("curve.py") + ["3"], args="none", metrics=TWO)
    results = [t.train() for _ in range(3)]
    assert [r["training_iteration"] for r in results] == [1, 2, 3]
    assert [r["loss"] for r in results] == [1.0, 0.5, 0.3333]
    assert [r["acc"] for r in results] == [0.5, 0.6667, 0.75]
    last = t.train()  # the script ends: Tune marks the last result done
    assert last.get(RESULT_DUPLICATE) and last["done"]
    log = (Path(t.logdir) / "command.log").read_text()
    assert "progress 2/3" in log and "epoch 3: loss=0.3333 acc=0.7500" in log


def test_step_regex_sets_the_iterations(trainables):
    t = trainables(command=script("curve.py") + ["2"], args="none",
                   metrics=list(reversed(TWO)), step=r"^Epoch \d+ done")
    first, second = t.train(), t.train()
    assert (first["acc"], first["loss"], second["loss"]) == (0.5, 1.0, 0.5)
    assert t.train()["done"]


def test_hpotk_report_lines_need_no_regex(trainables):
    t = trainables(command=script("curve.py") + ["2", "--report"], args="none",
                   metrics=[{"name": "loss"}])
    first, second = t.train(), t.train()
    assert first["loss"] == 1.0 and first["acc"] == 0.5 and first["epoch"] == 1
    assert second["loss"] == 0.5 and second["epoch"] == 2


def test_report_helper_prints_one_parsable_line():
    out = io.StringIO()
    with redirect_stdout(out):
        report(loss=0.25, acc=float("nan"), epoch=3)
        report({"val/loss": 0.5})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("@hpotk {") for line in lines)
    scanner = MetricScanner([{"name": "loss", "regex": None}], "loss")
    assert scanner.feed(lines[0])
    assert scanner.pending["loss"] == 0.25 and math.isnan(scanner.pending["acc"])
    assert not scanner.feed(lines[1]) and scanner.pending["val/loss"] == 0.5
    assert not scanner.feed("@hpotk not json") and not scanner.feed("@hpotk [1, 2]")


def test_report_helper_takes_numpy_and_torch_scalars():
    np = pytest.importorskip("numpy")
    out = io.StringIO()
    with redirect_stdout(out):
        report(loss=np.float32(0.5), n=np.int64(3))
    assert json.loads(out.getvalue()[len("@hpotk "):]) == {"loss": 0.5, "n": 3}


def test_two_metrics_of_one_line_and_a_non_number():
    scanner = MetricScanner(TWO, "acc")
    assert scanner.feed("epoch 1: loss=0.3 acc=0.9")
    assert scanner.pending == {"loss": 0.3, "acc": 0.9}
    bad = MetricScanner([{"name": "loss", "regex": r"loss=(\S+)"}], "loss")
    with pytest.raises(CommandFailed, match=r"captured 'n/a', not a number"):
        bad.feed("loss=n/a")


# -- failures ---------------------------------------------------------------------------------------
def test_crash_reports_exit_code_and_stderr(trainables):
    t = trainables(command=script("crash.py"), args="none")
    assert t.train()["loss"] == 0.9
    with pytest.raises(CommandFailed) as info:
        t.train()
    message = str(info.value)
    assert "exited with code 1" in message
    assert "ValueError: boom: the data loader broke" in message
    assert str(Path(t.logdir) / "command.log") in message


def test_regex_that_never_matched_is_named_with_the_log(trainables):
    t = trainables(command=script("echo_args.py"), args="none",
                   metrics=[LOSS, {"name": "acc", "regex": r"Accuracy: ([0-9.]+)"}])
    assert t.train()["loss"] == 0.5
    with pytest.raises(CommandFailed) as info:
        t.train()
    assert "acc: 'Accuracy: ([0-9.]+)'" in str(info.value)
    assert str(Path(t.logdir) / "command.log") in str(info.value)


def test_objective_never_reported_is_an_error(trainables):
    t = trainables(command=script("curve.py") + ["1"], args="none",
                   metrics=[{"name": "val_loss"}])
    with pytest.raises(CommandFailed, match="without reporting the objective metric 'val_loss'"):
        t.train()


def test_missing_executable_is_exit_127(trainables):
    t = trainables(command=["/nonexistent/train"], args="none")
    with pytest.raises(CommandFailed, match=r"(?s)exited with code 127.*cannot start"):
        t.train()


def test_hanging_script_hits_its_timeout_and_leaves_nothing(trainables, tmp_path):
    pidfile = tmp_path / "pids"
    t = trainables(command=script("hang.py") + [str(pidfile), "--ignore-term"], args="none",
                   timeout_s=1.5, grace_s=0.5)
    assert t.train()["loss"] == 0.7
    pgid = t.process.pgid
    start = time.monotonic()
    with pytest.raises(CommandFailed, match=r"timeout_s=1\.5"):
        t.train()
    assert time.monotonic() - start < 5
    assert group_members(pgid) == []
    assert not alive(int(pidfile.read_text()))


# -- stopping: no process survives --------------------------------------------------------------------
def test_stop_kills_the_whole_group_even_if_sigterm_is_ignored(trainables, tmp_path):
    pidfile = tmp_path / "pids"
    t = trainables(command=script("hang.py") + [str(pidfile), "--ignore-term"], args="none",
                   grace_s=0.5)
    t.train()
    pgid, child = t.process.pgid, int(pidfile.read_text())
    members = group_members(pgid)
    assert len(members) == 3 and child in members  # guard, script, the script's child
    t.stop()
    assert group_members(pgid) == [] and not alive(child)


def test_reset_config_stops_the_old_process_and_starts_anew(trainables, tmp_path):
    pidfile = tmp_path / "pids"
    t = trainables({"x": 1}, command=script("hang.py") + [str(pidfile)], args="none")
    t.train()
    pgid = t.process.pgid
    assert t.reset_config({"x": 2})
    assert group_members(pgid) == []
    t.config = {"x": 2}
    assert t.train()["loss"] == 0.7 and t.process.pgid != pgid


def test_hard_killed_worker_leaves_no_orphans(tmp_path):
    """The Ray worker dies without calling stop(): the guard takes the group down."""
    pidfile = tmp_path / "pids"
    code = textwrap.dedent(f"""
        import os, sys
        import ray.tune.trainable.trainable as module
        module.DEFAULT_STORAGE_PATH = {str(tmp_path / "trials")!r}
        from hpotk.trainables.command import make_command_trainable
        cls = make_command_trainable({{
            "command": [{sys.executable!r}, {str(SCRIPTS / "hang.py")!r}, {str(pidfile)!r},
                        "--ignore-term"],
            "metrics": [{{"name": "loss", "regex": "loss: ([0-9.]+)"}}],
            "args": "none", "grace_s": 0.5}})
        t = cls(config={{}})
        t.train()
        print(t.process.pgid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    worker = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    pgid = int(worker.stdout.split()[0])
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(pgid) == []
    assert not alive(int(pidfile.read_text()))


# -- checkpoints ------------------------------------------------------------------------------------
def test_checkpoints_need_the_checkpoint_dir_placeholder(trainables, tmp_path):
    t = trainables(command=script("curve.py") + ["2"], args="none",
                   metrics=[{"name": "loss", "regex": r"loss=([0-9.]+)"}])
    assert not type(t).SUPPORTS_CHECKPOINTS
    t.train()
    with pytest.raises(CommandFailed, match=r"cannot checkpoint.*\{checkpoint_dir\}"):
        t.save_checkpoint(str(tmp_path))


def test_checkpoint_round_trip_resumes_the_script(trainables, tmp_path):
    command = script("resumable.py") + ["{checkpoint_dir}", "6"]
    metric = [{"name": "loss", "regex": r"loss: ([0-9.]+)"}]
    first = trainables(command=command, args="none", metrics=metric)
    assert type(first).SUPPORTS_CHECKPOINTS
    assert [first.train()["loss"] for _ in range(2)] == [1.0, 0.5]
    saved = tmp_path / "ckpt"
    saved.mkdir()
    first.save_checkpoint(str(saved))
    first.stop()
    epoch = int((saved / "script" / "state").read_text())
    assert epoch >= 2  # the script may have run ahead of the last result
    second = trainables(command=command, args="none", metrics=metric)
    second.load_checkpoint(str(saved))
    assert second.train()["loss"] == round(1.0 / (epoch + 1), 4)
    assert "resuming after epoch" in (Path(second.logdir) / "command.log").read_text()


# -- the line splitter --------------------------------------------------------------------------------
def test_lines_split_on_cr_and_crlf(tmp_path):
    code = ("import sys, time; w = sys.stdout.write; w('a\\rb\\r'); sys.stdout.flush(); "
            "time.sleep(0.2); w('\\nc\\r\\nd'); sys.stdout.flush()")
    process = CommandProcess.start([sys.executable, "-c", code], str(tmp_path), dict(os.environ),
                                   tmp_path / "log", grace_s=1)
    lines = []
    while (line := process.read(timeout=10)) not in (None, END):
        lines.append(line.text)
    process.stop()
    assert lines == ["a", "b", "c", "d"]
    assert (tmp_path / "log").read_text() == "a\nb\nc\nd\n"


# -- end to end: the example through the CLI -------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[2] / "experiments" / "digits_command.yaml"


def processes_with_env(text: str) -> list[int]:
    """Pids of this user's processes whose environment contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if text.encode() in handle.read() and alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.e2e
def test_example_runs_and_asha_stops_poor_scripts_early(hpotk_cli, tmp_path):
    """The example on the session's Ray: a grid over lr whose later trials are worse after one
    epoch, so ASHA's first rung stops them; max_t=3 stops the rest while their script (12 epochs)
    still runs. No process of any trial survives."""
    import pandas as pd

    code, out, err = hpotk_cli(
        "run", EXAMPLE, "--set", "results=out", "--set", "budget.trials=4",
        "--set", "budget.max_t=3", "--set", "strategy.searcher=grid",
        "--set", "space={lr: {type: categorical, values: [0.1, 0.003, 0.001, 0.0003]}}",
        "--quiet")
    assert code == 0, out + err
    exp_dir = tmp_path / "out" / "digits-command"
    trials = pd.read_csv(exp_dir / "trials.csv")
    assert len(trials) == 4 and set(trials["status"]) <= {"COMPLETED", "STOPPED"}
    assert trials["iterations"].max() == 3
    stopped_early = trials[trials["iterations"] < 3]
    assert len(stopped_early) >= 1 and set(stopped_early["status"]) == {"STOPPED"}
    best = trials.loc[trials["best_test_loss"].idxmin()]
    assert best["config/lr"] == 0.1 and best["iterations"] == 3
    for trial_id in trials["trial_id"]:
        log = (exp_dir / trial_id / "command.log").read_text()
        assert "Test set: Average loss:" in log
        config = json.loads((exp_dir / trial_id / "hpotk-config.json").read_text())
        assert set(config) == {"lr"}
    time.sleep(0.5)
    assert processes_with_env(f"HPOTK_TRIAL_DIR={exp_dir}") == []


def test_refuse_without_checkpoints_explains_the_fix():
    from hpotk.trainables.command import refuse_without_checkpoints

    with pytest.raises(ConfigError, match=r"pbt needs checkpoints.*\{checkpoint_dir\}"):
        refuse_without_checkpoints(validate_command_spec(spec()), "strategy.scheduler pbt")
    refuse_without_checkpoints(validate_command_spec(spec(command=["run", "{checkpoint_dir}"])),
                               "strategy.scheduler pbt")


# -- through the experiment loader -------------------------------------------------------------------
def test_loader_refuses_an_invalid_regex_and_resolves_the_script():
    from hpotk.experiment import load, validate

    doc = {"name": "x", "space": {"lr": {"type": "continuous", "min_value": 0.1,
                                          "max_value": 1.0}},
           "metric": {"name": "loss", "mode": "min"},
           "trainable": {"command": ["python", "t.py"],
                         "metrics": [{"name": "loss", "regex": "loss: (["}]}}
    with pytest.raises(ConfigError) as info:
        validate(doc, "x.yaml")
    assert info.value.path == "trainable.metrics[0].regex"
    assert "invalid regular expression 'loss: (['" in info.value.message
    exp = load(EXAMPLE)
    script_path = EXAMPLE.parent / "scripts" / "train_digits.py"
    assert exp.trainable["command"][:2] == ["{python}", str(script_path)]
    assert exp.trainable["base_dir"] == str(EXAMPLE.parent)
