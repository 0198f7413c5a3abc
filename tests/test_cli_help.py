"""The command line explains itself: every option of every command has a help text, and the
one-line helps of `newswatch --help` read alike (lower case, no full stop)."""

from __future__ import annotations

import argparse

from flows.cli.main import build_parser


def _commands(parser: argparse.ArgumentParser, path: list[str]):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, [*path, name])


def test_every_option_of_every_command_says_what_it_does():
    missing = [
        f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
        for path, parser in _commands(build_parser(), ["newswatch"])
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help is None
    ]
    assert missing == []


def test_the_one_line_helps_read_alike():
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    assert helps and all(h and h[0].islower() and not h.endswith(".") for h in helps.values()), helps
