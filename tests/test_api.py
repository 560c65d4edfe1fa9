"""The Python API without running anything: hpotk.load of a file or a dict (same validation,
same errors as the CLI), overrides, and an `import hpotk` that stays cheap."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

import hpotk
from hpotk.errors import ConfigError
from tests.conftest import REPO

DOC = {
    "name": "api", "trainable": "mlp-digits", "space": {"lr": {
        "type": "continuous", "min_value": 1e-3, "max_value": 1e-1, "scaling": "log"}},
    "metric": {"name": "val_loss"}, "strategy": "asha/random", "budget": {"trials": 4},
}


def test_load_a_file_with_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(DOC))
    exp = hpotk.load(path, overrides=["budget.trials=8", "strategy=median/sobol"])
    assert isinstance(exp, hpotk.Experiment)
    assert exp.budget.trials == 8 and exp.strategy.label == "median/sobol"
    assert exp.source == str(path)


def test_a_dict_is_validated_as_a_file_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a dict's relative paths start here, the file's next to it
    exp = hpotk.load(DOC, overrides=["seed=3"])
    assert exp.seed == 3 and exp.source is None
    path = tmp_path / "exp.yaml"
    for bad, message in [({"budget": {"trials": 0}}, "budget.trials: "),
                         ({"strategy": "asha/nope"}, "strategy.searcher: unknown searcher 'nope'"),
                         ({"trainable": "nomodule:train"}, "trainable: no module named"),
                         ({"colour": "red"}, "colour: unknown key")]:
        with pytest.raises(ConfigError, match=message) as from_dict:
            hpotk.load({**DOC, **bad})
        path.write_text(yaml.safe_dump({**DOC, **bad}))
        with pytest.raises(ConfigError) as from_file:
            hpotk.load(path)
        # the same message; the file's error also names the file
        assert str(from_file.value) == f"{path}: {from_dict.value}"


def test_a_dict_takes_relative_paths_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text(textwrap.dedent("""
        from ray import tune

        def train(config):
            tune.report({"val_loss": config["lr"]})
    """))
    exp = hpotk.load({**DOC, "trainable": "mine.py:train", "data": {"path": "data.csv"}})
    assert exp.trainable == f"{tmp_path / 'mine.py'}:train"
    assert exp.data["path"] == str(tmp_path / "data.csv")


def test_import_hpotk_stays_cheap():
    """No Ray, torch, pandas or pydantic until an API function is used."""
    code = ("import sys, hpotk; heavy = {'ray', 'torch', 'pandas', 'pydantic', 'numpy'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_the_api_names_are_there():
    assert set(hpotk.__all__) >= {"load", "run", "tuner", "results", "Experiment"}
    assert callable(hpotk.load) and callable(hpotk.run) and callable(hpotk.tuner)
    assert callable(hpotk.results.load)
    with pytest.raises(AttributeError):
        hpotk.no_such_name  # noqa: B018
