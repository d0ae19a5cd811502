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


def test_subcommand_table_matches_modules():
    """cli.SUBCOMMANDS (used to import one stage per run) names exactly what each module defines."""
    import importlib

    from vfrepro.cli import COMMAND_MODULES, SUBCOMMANDS

    defined = {}
    for module in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parser(sub)
        defined.update({name: module for name in sub.choices})
    assert defined == SUBCOMMANDS


def test_one_subcommand_imports_only_its_stage():
    """`vfrepro preprocess` must not pay for torch or the statistics stack at start-up."""
    import subprocess
    import sys

    code = ("import sys; from vfrepro.cli import main\n"
            "try:\n    main(['preprocess', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'vfrepro.stats.icc', 'vfrepro.deep.train') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_every_built_study_is_a_verb_defined_by_its_package():
    """`vfrepro <study> <stage>`: the verbs come from the registry, one `<package>.cli` each."""
    from vfrepro import registry
    from vfrepro.cli import SUBCOMMANDS

    for name in registry.built():
        assert SUBCOMMANDS[name] == f"{registry.get(name).package}.cli"
    assert not {"liu2025", "train-cnn", "evaluate-cnn", "cam-cnn", "reader-study"} & set(SUBCOMMANDS)
