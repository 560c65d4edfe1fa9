"""Canaries for what `hpotk._config` reads of pydantic's validation errors: the error type
names it sorts by and the message forms it trims. If one moves, config errors still name the
key path but may pick a less useful error or show pydantic's raw wording."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from tests.canary._tune import moved

MESSAGES = ("experiment and study file errors: which error is shown and its wording "
            "(hpotk/_config.py config_error, _message)")


def test_canary_pydantic_error_types():
    from pydantic_core.core_schema import ErrorType

    from hpotk._config import TYPE_MISMATCH

    known = set(typing.get_args(ErrorType))
    wanted = TYPE_MISMATCH | {"extra_forbidden", "missing", "literal_error", "value_error"}
    assert wanted <= known, moved(f"pydantic error types {sorted(wanted - known)}", MESSAGES,
                                  "pydantic_core/core_schema.py ErrorType")


def test_canary_pydantic_message_forms():
    class Model(BaseModel):
        n: int = 0
        s: str = ""

        @field_validator("s")
        @classmethod
        def no_x(cls, value: str) -> str:
            if value == "x":
                raise ValueError("not x")
            return value

    with pytest.raises(ValidationError) as bad_value:
        Model(s="x")
    with pytest.raises(ValidationError) as bad_type:
        Model(n="many")
    value_error, type_error = bad_value.value.errors()[0], bad_type.value.errors()[0]
    assert (value_error["type"], value_error["msg"]) == ("value_error", "Value error, not x"), \
        moved("a validator's ValueError as 'Value error, <text>'", MESSAGES, "pydantic")
    assert type_error["msg"].startswith("Input should be ") and ", unable to" in \
        type_error["msg"] and tuple(type_error["loc"]) == ("n",), moved(
            "a type error's 'Input should be ..., unable to ...' message and loc", MESSAGES,
            "pydantic")
