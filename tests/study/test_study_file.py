"""Study files: validated like experiment files (key paths, unknown keys refused), the runs they
make, `hpotk plan STUDY`, and the shipped studies. No Ray: nothing here runs a trial."""

from __future__ import annotations

import contextlib
import io
import textwrap
from pathlib import Path

import pytest

from hpotk.cli import main
from hpotk.errors import ConfigError
from hpotk.study import DEFAULT_TRIALS, load_study

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
STUDIES = sorted((REPO / "experiments" / "studies").glob("*.yaml"))


def study_file(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"experiment: {QUICKSTART}\n" + textwrap.dedent(body))
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_runs_are_strategy_by_repeat_with_the_same_budget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, """
        name: two
        strategies: [fifo/random, asha/random]
        repeats: 2
        seed: 5
        budget: {time_s: 30, concurrent: 2}
        set: {budget.max_t: 4}
    """)
    study = load_study(path)
    assert [(r.label, r.seed) for r in study.runs] == [
        ("fifo/random", 5), ("asha/random", 5), ("fifo/random", 6), ("asha/random", 6)]
    assert study.runs[3].path == tmp_path / "results" / "two" / "asha-random" / "seed6"
    for run in study.runs:
        b = run.experiment.budget
        assert (b.time_s, b.concurrent, b.trials, b.max_t) == (30, 2, DEFAULT_TRIALS, 4)
        assert run.experiment.seed == run.seed
    assert study.runs[0].experiment.strategy.label == "fifo/random"
    # the base experiment's ASHA options are kept for asha/random
    assert study.runs[1].experiment.strategy.scheduler.options == {
        "grace_period": 2, "reduction_factor": 3}
    assert study.baseline == "fifo/random" and study.report_metric == "val_acc"


def test_per_strategy_set_overrides_any_key(tmp_path):
    path = study_file(tmp_path, """
        name: ablation
        strategies:
          often: {strategy: asha/random, set: {checkpoint.every: 1}}
          never: {strategy: asha/random, set: {checkpoint.every: 0}}
          asha: null
        repeats: 1
        budget: {time_s: 30}
        baseline: often
    """)
    study = load_study(path, ["repeats=2", "set.budget.max_t=7"])
    assert len(study.runs) == 6
    assert {r.experiment.budget.max_t for r in study.runs} == {7}
    assert {r.experiment.budget.time_s for r in study.runs} == {30}  # the rest of budget kept
    every = {r.label: r.experiment.checkpoint.every for r in study.runs}
    assert every == {"often": 1, "never": 0, "asha": 0}
    assert study.runs[2].experiment.strategy.scheduler.name == "asha"


@pytest.mark.parametrize(("body", "key", "message"), [
    ("strategies: [fifo/random]\nbudget: {time_s: 10}\nrepets: 2\n", "repets", "unknown key"),
    ("strategies: [fifo/random]\nbudget: {time_s: 10, trails: 2}\n", "budget.trails",
     "unknown key"),
    ("strategies: [fifo/random]\nbudget: {time_s: -1}\n", "budget.time_s", "greater than 0"),
    ("strategies: []\nbudget: {time_s: 10}\n", "strategies", "at least one"),
    ("strategies: [fifo/random]\n", "budget.time_s", "equal time"),
    ("strategies: [fifo/random, asha/random]\nbudget: {time_s: 10}\nbaseline: asha/bo\n",
     "baseline", "not one of"),
    ("strategies: [fifo/bogus]\nbudget: {time_s: 10}\n", "strategies.fifo/bogus: "
     "strategy.searcher", "bogus"),
    ("strategies:\n  a: {strategy: asha/random, sett: {x: 1}}\nbudget: {time_s: 10}\n",
     "strategies.a.sett", "unknown key"),
    ("strategies:\n  a: {strategy: asha/random, set: {checkpoint.evry: 1}}\n"
     "budget: {time_s: 10}\n", "strategies.a: checkpoint.evry", "unknown key"),
    ("strategies: [fifo/random]\nbudget: {time_s: 10}\nband: sd\n", "band",
     "'auto', 't', 'ci', 'bootstrap' or 'iqr'"),
    ("strategies: [fifo/random]\nbudget: {time_s: 10}\ntop_k: 0\n", "top_k", "greater than"),
    ("strategies: [fifo/random]\nbudget: {time_s: 10}\ncharge_searcher: sometimes\n",
     "charge_searcher", "boolean"),
    ("strategies: [fifo/random, asha/random]\nbudget: {time_s: 10}\nvalidate: 1\n",
     "validate", "needs replay: auto"),
    # with a table nothing runs for real, so validate's runs were silently left out
    ("strategies: [fifo/random, asha/random]\nbudget: {time_s: 10}\nreplay: table.tar.gz\n"
     "validate: 1\n", "validate", "needs replay: auto"),
])
def test_malformed_study_files_name_the_key(tmp_path, body, key, message):
    path = study_file(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert info.value.path == key, str(info.value)
    assert message in info.value.message
    for command in ("plan", "study"):  # the CLI: one line, exit 2, no traceback
        code, out, err = cli(command, path)
        assert code == 2
        assert err.startswith(f"hpotk: error: {path}: {key}: ") and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_a_missing_base_experiment_is_named(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("strategies: [fifo/random]\nbudget: {time_s: 10}\nexperiment: nope.yaml\n")
    code, _, err = cli("study", path)
    assert code == 2 and "experiment: no experiment file" in err and "nope.yaml" in err


def test_plan_lists_the_runs_and_the_total_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = study_file(tmp_path, """
        name: planned
        strategies: [fifo/random, asha/random]
        repeats: 3
        budget: {time_s: 90}
    """)
    code, out, err = cli("plan", path)
    assert code == 0, err
    assert "2 strategies x 3 repeats = 6 runs" in out
    assert out.count("/results/planned/") == 7  # six runs and the outputs line
    assert "total: 9 min 00 s of running (6 x 90 s)" in out


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_shipped_studies_are_valid_and_plan(path):
    from hpotk import runner

    study = load_study(path)
    assert study.baseline in study.labels
    for run in study.runs:
        runner.make_plan(run.experiment)


def test_shipped_studies_are_the_ones_promised():
    names = {p.stem for p in STUDIES}
    assert {"quickstart_tts", "cgcnn_tts", "cgcnn_checkpoint_ablation"} <= names
    cgcnn = load_study(REPO / "experiments" / "studies" / "cgcnn_tts.yaml")
    assert cgcnn.labels == ["fifo/random", "asha/random", "ahb/random", "asha/bo"]
    quick = load_study(REPO / "experiments" / "studies" / "quickstart_tts.yaml")
    assert sum(r.experiment.budget.time_s for r in quick.runs) <= 6 * 60
