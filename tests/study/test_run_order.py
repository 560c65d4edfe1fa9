"""`run_study`'s bookkeeping without Ray (runner.run replaced by a recorder): shared data is built
once before any run, runs go one after another in plan order, complete runs are skipped and an
interrupted run resumes with what is left of its time."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hpotk import runner, study
from hpotk import state as run_state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls: list[tuple] = []
    monkeypatch.setattr("hpotk.data.prepare",
                        lambda name, **params: calls.append(("data", name, params)) or "built")
    monkeypatch.setattr(runner, "ensure_ray", lambda address=None: calls.append(("ray",)))

    def fake_run(exp, **kwargs):
        calls.append(("run", exp.results_dir.parent.name, exp.name, exp.budget.time_s))
        run_state.write_state(exp.results_dir, status="complete", name=exp.name,
                              metric=exp.metric.name, budget=exp.budget.model_dump())
        return runner.RunOutcome("complete", exp.results_dir, None, 0)

    monkeypatch.setattr(runner, "run", fake_run)
    monkeypatch.setattr(study, "summarise", lambda s, log=print: calls.append(("summarise",)) or (
        None, []))
    monkeypatch.chdir(tmp_path)
    return calls


def cgcnn_study(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: order
        experiment: {REPO / 'experiments' / 'cgcnn_asha_rs.yaml'}
        strategies: [fifo/random, asha/random]
        repeats: 2
        budget: {{time_s: 50}}
    """))
    return path


def test_data_first_then_every_run_in_order_then_the_summary(recorded, tmp_path):
    s = study.load_study(cgcnn_study(tmp_path))
    out = study.run_study(s, log=lambda *a: None)
    assert recorded[0] == ("data", "emt-adsorption", {"size": 800, "seed": 0})
    assert recorded[1] == ("ray",)
    assert recorded[2:] == [
        ("run", "fifo-random", "seed0", 50), ("run", "asha-random", "seed0", 50),
        ("run", "fifo-random", "seed1", 50), ("run", "asha-random", "seed1", 50), ("summarise",)]
    assert len(out.ran) == 4 and not out.skipped
    doc = json.loads((tmp_path / "results" / "order" / "study.json").read_text())
    assert [r["status"] for r in doc["runs"]] == ["not started"] * 4  # written before the runs

    recorded.clear()
    out = study.run_study(s, log=lambda *a: None)  # all complete: no data, no Ray, no run
    assert recorded == [("summarise",)]
    assert len(out.skipped) == 4


def test_each_distinct_data_spec_is_built_once(recorded, tmp_path):
    path = cgcnn_study(tmp_path)
    path.write_text(path.read_text().replace(
        "strategies: [fifo/random, asha/random]",
        "strategies:\n  fifo/random: null\n  small: {strategy: asha/random, set: {data.size: 100}}"))
    s = study.load_study(path)
    study.run_study(s, log=lambda *a: None)
    data = [c for c in recorded if c[0] == "data"]
    assert data == [("data", "emt-adsorption", {"size": 800, "seed": 0}),
                    ("data", "emt-adsorption", {"size": 100, "seed": 0})]
    assert recorded.index(data[-1]) < recorded.index(("ray",))


def test_an_interrupted_run_resumes_with_the_time_left(recorded, tmp_path):
    s = study.load_study(cgcnn_study(tmp_path))
    first = s.runs[0].path
    run_state.write_state(first, status="interrupted", name="seed0", metric="val_mae",
                          started=1000.0, runs=[{"started": 1000.0, "finished": 1030.0}],
                          budget={"time_s": 20})
    study.run_study(s, only=0, log=lambda *a: None)
    assert ("run", "fifo-random", "seed0", 20.0) in recorded  # 50 s less the 30 s it ran
    assert run_state.read_state(first)["budget"]["time_s"] == 50  # the state keeps the budget
    assert ("summarise",) not in recorded  # one element of a job array does not aggregate


def test_the_last_job_array_element_to_finish_aggregates(recorded, tmp_path):
    s = study.load_study(cgcnn_study(tmp_path))
    for index in (3, 0, 2):
        study.run_study(s, only=index, log=lambda *a: None)
    assert ("summarise",) not in recorded
    study.run_study(s, only=1, log=lambda *a: None)
    assert recorded[-1] == ("summarise",)


def test_element_out_of_range_is_refused(recorded, tmp_path):
    from hpotk.errors import HpotkError

    s = study.load_study(cgcnn_study(tmp_path))
    with pytest.raises(HpotkError, match="runs 0 to 3"):
        study.run_study(s, only=4, log=lambda *a: None)
