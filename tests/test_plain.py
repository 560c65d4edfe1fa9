"""One numpy-to-Python conversion (`hpotk._plain.plain`), and the writers that use it."""

from __future__ import annotations

import json

import numpy as np
import torch

from hpotk._plain import plain


def test_numpy_and_torch_values_become_plain_python():
    values = [np.float32(1.5), np.int64(3), np.bool_(True), np.array(2.0), torch.tensor(4.0)]
    converted = [plain(v) for v in values]
    assert converted == [1.5, 3, True, 2.0, 4.0]
    assert [type(v) for v in converted] == [float, int, bool, float, float]
    assert plain(np.array([1, 2])) == [1, 2] and plain(torch.tensor([1, 2])) == [1, 2]


def test_anything_else_is_left_alone_or_given_to_otherwise():
    for value in ["x", b"x", [np.int64(1)], (1,), {"a": 1}, 5, 2.5, None]:
        assert plain(value) is value
    assert plain(object(), otherwise=str).startswith("<object")


def test_the_writers_agree(capsys, tmp_path):
    from hpotk import report
    from hpotk.reporting.common import format_value
    from hpotk.trainables.command import format_value as argument
    from hpotk.trainables.command import write_config

    report(loss=np.float32(0.25), step=np.int64(3))
    assert capsys.readouterr().out == '@hpotk {"loss": 0.25, "step": 3}\n'
    assert argument(np.float64(0.001)) == "0.001" and argument(np.array([1, 2])) == "[1, 2]"
    assert format_value(np.int64(64)) == "64"
    write_config({"lr": np.float64(0.5), "sizes": np.array([8, 16])}, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == {"lr": 0.5, "sizes": [8, 16]}
