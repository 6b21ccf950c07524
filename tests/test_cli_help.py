"""Every subcommand says what it does, and every option what it sets."""
import argparse

from fastnn.cli import COMMANDS, build_parser


def subparsers():
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def test_every_command_has_a_description_and_every_option_help():
    subs = subparsers()
    assert set(subs) == set(COMMANDS)
    for name, p in subs.items():
        assert p.description and len(p.description) > 40, name
        if name == "bench":       # its options are bench/run.py's, checked there
            continue
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"fastnn {name} {'/'.join(a.option_strings) or a.dest}: no help"


def test_named_help_texts():
    subs = subparsers()
    opts = {a.dest: a.help for a in subs["train"]._actions}
    assert "default" in opts["threads"]
    assert "recorded in its checkpoint" in opts["resume"]
    assert "no_download" in {a.dest for a in subs["gradcheck"]._actions}
