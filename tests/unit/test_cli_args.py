"""The CLI's parser: documented everywhere, and never repeating what it was given."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

import pytest

from rotation.cli import VERSION, build_parser, main
from rotation.cli.advice import FALLBACK, advice_for
from rotation.cli.args import describe_extras, safe_message
from rotation.codes import CODES
from tests.leaks import LeakGuard

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Never-Echo-This-9f3a"
VALUE = f'{{"password":"{SECRET}"}}'


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def test_every_command_and_option_is_documented() -> None:
    for parser in _parsers(build_parser()):
        assert parser.description, f"{parser.prog} has no description"
        assert "``" not in parser.description and ":func:" not in parser.description
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{parser.prog} {choice.dest} has no help"
                continue
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}: no help"


def test_help_documents_the_exit_codes(leak_guard: LeakGuard) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = leak_guard.read()[0]
    for code in ("0  done", "1  the rotation failed", "2  bad usage", "3  Secret Manager", "4  "):
        assert code in text


def test_version_matches_the_project(leak_guard: LeakGuard) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert project == VERSION
    assert leak_guard.read()[0].strip() == f"ncp-secret-rotator {VERSION}"


@pytest.mark.parametrize(
    "argv",
    [
        ["secret", "create", "--name", "x12", "--targets", "password", "--value", VALUE],
        ["secret", "create", "--name", "x12", "--targets", "password", f"--value={VALUE}"],
        ["secret", "create", "--name", "x12", "--targets", "password", "--password", VALUE],
        ["secret", "update", "abc123", "--secret", VALUE],
        ["secret", "update", "abc123", VALUE],
        ["rotate", VALUE],
        ["status", "--overdue-after", VALUE],
        ["secret", "create", "--name", "x", "--targets", "p", "--protection-key-type", VALUE],
        ["rotate", "abc", "--json=" + VALUE],
        ["rotate", "abc", "--timeout", VALUE],
    ],
)
def test_a_value_on_the_command_line_is_refused_without_echo(
    argv: list[str], leak_guard: LeakGuard
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    leak_guard.registered.add(SECRET)  # the guard fails the test if it shows up anywhere
    out, err = leak_guard.read()
    assert "Never-Echo-This" not in out + err
    assert "error:" in err


def test_a_value_flag_gets_the_file_or_stdin_hint(leak_guard: LeakGuard) -> None:
    with pytest.raises(SystemExit):
        main(["secret", "create", "--name", "x12", "--targets", "password", "--value", VALUE])
    assert "--value-file FILE, or pipe it on stdin" in leak_guard.read()[1]


def test_messages_keep_option_names_and_drop_values() -> None:
    assert safe_message("argument --period: invalid parse value: 'hunter2'") == (
        "argument --period: invalid parse value"
    )
    assert safe_message("argument --kind: invalid choice: 'hunter2' (choose from 'a', 'b')") == (
        "argument --kind: invalid choice (choose from 'a', 'b')"
    )
    assert safe_message("ambiguous option: --val=hunter2 could match --value-file") == (
        "ambiguous option: --val could match --value-file"
    )
    assert describe_extras(["--colour", "hunter2", "x"]) == (
        "unknown option --colour; 2 unexpected arguments (not shown) (see --help)"
    )
    assert "hunter2" not in describe_extras(["--token=hunter2"])


def test_advice_comes_from_the_code_registry() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| `")]
    codes = {c for row in rows for c in re.findall(r"`([A-Z][A-Z_]+)`", row.split("|")[1])}
    assert {"ROTATION_INCOMPLETE", "TARGET_UNREACHABLE"} <= codes  # the table was found
    for code in codes:
        assert advice_for(code) == CODES[code].action != FALLBACK, code
    assert "resume" in advice_for("ROTATION_INCOMPLETE")
    assert advice_for("INVALID_NOTIFY") == CODES["INVALID_NOTIFY"].action  # the registry's
    assert "notify" in advice_for("INVALID_NOTIFY")
    assert advice_for("INVALID_SOMETHING_NEW").startswith("fix the action's parameters")
    assert advice_for("NEVER_SEEN_BEFORE") == advice_for(None) == FALLBACK
    assert "README" in FALLBACK
