"""The one translation of validation errors (`hpotk._config`): key paths as the user wrote
them, through unions, lists and mappings of models."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ValidationError

from hpotk._config import Strict, config_error


class Entry(Strict):
    strategy: str
    weight: float = 1.0


class File(Strict):
    name: str
    entries: list[Entry] = []
    named: dict[str, Entry] = {}
    target: str | dict = "x"
    reuse: bool | Literal["auto"] = "auto"


def _error(doc: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        File.model_validate(doc)
    return str(config_error(caught.value, doc, "f.yaml", File))


@pytest.mark.parametrize("doc, expected", [
    ({}, "f.yaml: name: required key is missing"),
    ({"name": "a", "bogus": 1}, "f.yaml: bogus: unknown key; valid keys: ['entries', 'name', "
                                "'named', 'reuse', 'target']"),
    ({"name": "a", "entries": [{"strategy": "asha"}, {"strategy": "x", "wieght": 2}]},
     "f.yaml: entries[1].wieght: unknown key; valid keys: ['strategy', 'weight']"),
    ({"name": "a", "named": {"rs": {"weight": "heavy", "strategy": "fifo"}}},
     "f.yaml: named.rs.weight: Input should be a valid number, unable to parse string as a "
     "number, got 'heavy'"),
    ({"name": "a", "named": {"rs": {}}}, "f.yaml: named.rs.strategy: required key is missing"),
    ({"name": "a", "target": 5},
     "f.yaml: target: Input should be a valid string or a valid dictionary, got 5"),
    ({"name": "a", "reuse": "sometimes"},
     "f.yaml: reuse: Input should be a valid boolean or 'auto', got 'sometimes'"),
])
def test_key_paths_and_messages(doc, expected):
    assert _error(doc) == expected
