"""`vfrepro --help` and every subcommand's --help describe every option."""

import argparse

import pytest

from vfrepro.cli import build_parser, main


def walk(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))


def test_every_option_has_help():
    undocumented = []
    for path, parser in walk(build_parser()):
        assert parser.description or parser.format_usage(), path
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help:
                undocumented.append(f"vfrepro {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not undocumented, undocumented


@pytest.mark.parametrize("command", ["synth", "ingest", "preprocess", "validate-manifest", "montage"])
def test_subcommand_help_exits_zero(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert "--" in capsys.readouterr().out
