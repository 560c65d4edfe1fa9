"""Experiment files: defaults, overrides, Neptune files, and malformed input (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpotk import experiment
from hpotk.cli import main
from hpotk.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"

BASE = textwrap.dedent("""\
    name: t
    trainable: mlp-digits
    space:
      lr: {type: continuous, min_value: 0.001, max_value: 0.1, scaling: log}
      hidden_size: {type: categorical, values: [16, 32]}
    metric: {name: val_acc, mode: max}
    strategy: asha/random
    budget: {trials: 4, concurrent: 2, max_t: 3}
    """)


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_filled():
    exp = experiment.load(QUICKSTART)
    assert exp.name == "quickstart"
    assert exp.strategy.scheduler.name == "asha"
    assert exp.strategy.scheduler.options == {"grace_period": 2, "reduction_factor": 3}
    assert exp.strategy.searcher.name == "random"
    assert exp.checkpoint.every == 0 and exp.checkpoint.keep == 1
    assert exp.reuse_actors == "auto" and exp.results == "results/"
    assert exp.budget.stall_s == 300
    assert exp.eval_frequency.type == "evaluate_every_epoch"


def test_set_overrides_by_dotted_path_and_shorthands(tmp_path):
    path = write(tmp_path, BASE)
    exp = experiment.load(path, ["budget.trials=8", "strategy=fifo/grid", "seed=3",
                                 "strategy.scheduler.grace_period=2"],
                          {"budget.concurrent": 3})
    assert exp.budget.trials == 8 and exp.budget.concurrent == 3 and exp.seed == 3
    assert exp.strategy.label == "fifo/grid"
    assert exp.strategy.scheduler.options == {"grace_period": 2}


def test_strategy_shorthands(tmp_path):
    path = write(tmp_path, BASE)
    assert experiment.load(path, ["strategy=asha"]).strategy.label == "asha/random"
    assert experiment.load(path, ["strategy=grid"]).strategy.label == "fifo/grid"


def test_neptune_file_is_a_whole_experiment(tmp_path):
    doc = {"models": [{"model": "rgcn", "task_type": "node_class",
                       "eval_metric": {"metric": "acc"},
                       "eval_frequency": {"type": "evaluate_every_epoch", "value": 1},
                       "1-tier-param": [{"param": "lr", "range": [0.001, 0.01], "type": "float",
                                         "inc_strategy": "log"}],
                       "2-tier-param": [], "3-tier-param": [], "fixed-param": []}]}
    path = write(tmp_path, json.dumps(doc), "model-HPO-configuration.json")
    exp = experiment.load(path, extra={"budget.trials": 12, "budget.concurrent": 2})
    assert exp.trainable == "rgcn"
    assert exp.metric.name == "val_acc" and exp.metric.mode == "max"
    assert exp.task["task_type"] == "node_class"
    assert exp.budget.trials == 12 and exp.budget.concurrent == 2


MALFORMED = {
    # case id: (file text or None, extra CLI args, text the one-line message must contain)
    "wrong-type": (BASE.replace("trials: 4", "trials: many"), [], "budget.trials"),
    "unknown-top-key": (BASE + "trails: 3\n", [], "trails: unknown key; valid keys"),
    "unknown-nested-key": (BASE.replace("max_t: 3", "max_t: 3, maxt: 4"), [], "budget.maxt"),
    "missing-metric": ("\n".join(line for line in BASE.splitlines()
                                 if not line.startswith("metric")), [], "metric: required"),
    "bad-mode": (BASE.replace("mode: max", "mode: maximise"), [], "metric.mode"),
    "negative-gpu": (BASE + "resources: {gpu: -1}\n", [], "resources.gpu"),
    "inverted-range": (BASE.replace("min_value: 0.001, max_value: 0.1",
                                    "min_value: 0.1, max_value: 0.001"), [], "space.lr"),
    "log-touching-zero": (BASE.replace("min_value: 0.001", "min_value: 0"), [], "exp.yaml: space.lr"),
    "empty-choice": (BASE.replace("values: [16, 32]", "values: []"), [], "space.hidden_size"),
    "unknown-scheduler": (BASE.replace("asha/random", "ashaa/random"), [],
                          "strategy.scheduler: unknown scheduler 'ashaa' (did you mean 'asha'?)"),
    "unknown-searcher": (BASE.replace("asha/random", "asha/bayes"), [],
                         "strategy.searcher: unknown searcher 'bayes'"),
    "unknown-scheduler-option": (
        BASE.replace("strategy: asha/random",
                     "strategy: {scheduler: {name: asha, grace: 2}, searcher: random}"),
        [], "strategy.scheduler.grace: unknown option"),
    "unknown-trainable": (BASE.replace("mlp-digits", "mlp-digitz"), [], "trainable: unknown"),
    "bad-override-syntax": (BASE, ["--set", "budget.trials"], "--set: expected KEY.PATH=VALUE"),
    "override-through-scalar": (BASE, ["--set", "budget.trials.x=1"], "budget.trials is 4"),
    "override-wrong-type": (BASE, ["--set", "budget.concurrent=two"], "budget.concurrent"),
    "invalid-yaml": ("name: t\nbudget: {trials: 4\n", [], "invalid YAML at line"),
    "not-a-mapping": ("- just\n- a list\n", [], "expected a mapping"),
    "bad-name": (BASE.replace("name: t", "name: 'a b/c'"), [], "name:"),
    "bad-eval-frequency": (BASE + "eval_frequency: {type: evaluate_every_pct, value: 5}\n", [],
                           "eval_frequency"),
    "neptune-two-models": (json.dumps({"models": [{"model": "rgcn"}, {"model": "transe"}]}),
                           [], "models: has 2 entries"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_experiment_exits_2_with_one_line_naming_the_key(case, tmp_path, capsys):
    text, extra_args, expected = MALFORMED[case]
    suffix = ".json" if text.lstrip().startswith("{") else ".yaml"
    path = write(tmp_path, text, "exp" + suffix)
    code = main(["plan", str(path), *extra_args])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hpotk: error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err


def test_nonexistent_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "nope.yaml" in err


def test_config_error_formats_file_and_key_path():
    exc = ConfigError("space.1-tier-param[2].range", "low 0.1 must be < high 0.01", "x.json")
    assert str(exc) == "x.json: space.1-tier-param[2].range: low 0.1 must be < high 0.01"


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys, hpotk.cli; hpotk.cli.build_parser().format_help(); "
            "heavy = [m for m in ('ray', 'torch', 'pydantic', 'pandas') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "hpotk.cli", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for command in ("run", "plan", "best", "resume", "data"):
        assert command in help_text


def test_malformed_file_through_the_real_command(tmp_path):
    path = write(tmp_path, BASE.replace("trials: 4", "trials: -1"))
    proc = subprocess.run([sys.executable, "-m", "hpotk.cli", "plan", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "budget.trials" in proc.stderr and "Traceback" not in proc.stderr


def test_data_flag_replaces_or_updates_the_dataset(tmp_path):
    from hpotk.cli import _load, build_parser

    path = write(tmp_path, BASE + "data: {name: emt-adsorption, size: 100, seed: 0}\n")
    parse = build_parser().parse_args
    exp = _load(parse(["run", str(path), "--data", "size=40,seed=2", "--trials", "6"]))
    assert exp.data == {"name": "emt-adsorption", "size": 40, "seed": 2}
    assert exp.budget.trials == 6
    exp = _load(parse(["run", str(path), "--data", "hetero-synthetic", "--parallel", "3"]))
    assert exp.data == {"name": "hetero-synthetic"} and exp.budget.concurrent == 3
    graph = tmp_path / "graph.pt"
    graph.write_bytes(b"")
    exp = _load(parse(["run", str(path), "--data", str(graph)]))
    assert exp.data == {"path": str(graph.resolve())}


def test_command_trainable_refuses_what_needs_checkpoints(capsys):
    path = REPO / "experiments" / "digits_command.yaml"
    for extra in (["--set", "checkpoint.every=2"], ["--set", "strategy=hyperband/random"]):
        assert main(["plan", str(path), *extra]) == 2
        err = capsys.readouterr().err
        assert "trainable.command" in err and "{checkpoint_dir}" in err


def test_config_error_survives_pickling():
    import pickle

    exc = pickle.loads(pickle.dumps(ConfigError("budget.trials", "must be >= 1", "x.yaml")))
    assert (exc.path, exc.message, exc.source) == ("budget.trials", "must be >= 1", "x.yaml")
    assert str(exc) == "x.yaml: budget.trials: must be >= 1"


def test_data_command_builds_then_hits_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HPOTK_DATA_DIR", str(tmp_path))
    argv = ["data", "emt-adsorption", "workers=1", "--size", "10", "relax_steps=0"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "built 10 structures" in first and str(tmp_path) in first
    assert main(argv) == 0
    assert "already cached" in capsys.readouterr().out
    assert main(["data", "emt-adsorption", "--size", "10", "bogus=1"]) == 2
    assert "data.bogus: unknown option" in capsys.readouterr().err


def test_data_paths_become_absolute(tmp_path, monkeypatch):
    from hpotk.cli import _load, build_parser

    sub = tmp_path / "exp"
    sub.mkdir()
    path = write(sub, BASE + "data: {path: graphs/g.pt, target: paper}\n")
    assert experiment.load(path).data["path"] == str(sub / "graphs" / "g.pt")
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["run", str(path), "--data", "path=t.tsv"])
    assert _load(args).data["path"] == str(tmp_path / "t.tsv")


def test_neptune_defaults_follow_the_task(tmp_path):
    doc = {"models": [{"model": "transe", "task_type": "link_prediction",
                       "1-tier-param": [], "2-tier-param": [], "3-tier-param": [],
                       "fixed-param": []}]}
    exp = experiment.load(write(tmp_path, json.dumps(doc), "kge.json"))
    assert exp.metric.name == "val_mrr" and exp.metric.mode == "max"
    assert exp.early_stop.enabled is True and exp.early_stop.window == 3
