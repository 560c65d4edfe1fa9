"""Canary for argparse's private ``_subparsers`` (`hpotk.cli.main`): ``hpotk data`` parses
its own arguments intermixed (KEY=VALUE pairs before or after --size / --seed)."""

from __future__ import annotations

import argparse

from tests.canary._tune import moved


def test_canary_argparse_subparsers_group_actions():
    from hpotk.cli import build_parser

    parser = build_parser()
    group = getattr(parser, "_subparsers", None)
    actions = getattr(group, "_group_actions", [])
    data = actions[0].choices.get("data") if actions else None
    assert isinstance(data, argparse.ArgumentParser), moved(
        "ArgumentParser._subparsers._group_actions[0].choices", "`hpotk data NAME k=v --size N` "
        "with KEY=VALUE pairs after the options (hpotk/cli.py main)", "Lib/argparse.py")
    args = data.parse_intermixed_args(["emt", "a=1", "--size", "5", "b=2"])
    assert (args.params, args.size) == (["a=1", "b=2"], 5), moved(
        "ArgumentParser.parse_intermixed_args", "`hpotk data` (hpotk/cli.py main)",
        "Lib/argparse.py")
