"""An ``ArgumentParser`` that never repeats what it was given.

argparse's own errors quote the offending text (``unrecognized arguments: --value
{"password": ...}``, ``invalid int value: 'hunter2'``). An operator who pastes a secret in
the wrong place would then find it in the terminal, the CI log and the shell's scrollback.
Here every error names the option, never the text: unknown options by their name only
(the part before ``=``), stray words as a count, and a flag that looks like it carries a
value (``--value``, ``--password``, ...) gets the one sentence that matters: values come
from a file or stdin.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

from rotation.cli.common import EXIT_USAGE
from rotation.sensitive import is_sensitive_key

#: argparse message parts that quote user input, and what replaces them.
_QUOTING = (
    # "invalid int value: 'x'", "invalid choice: 'x' (choose from 'a', 'b')"
    (re.compile(r"(invalid [\w ]+?): (?:'[^']*'|\"[^\"]*\"|\S+)(?= \(choose from|$)"), r"\1"),
    # "ignored explicit argument 'x'"
    (re.compile(r"(ignored explicit argument) '.*'$"), r"\1"),
    # "ambiguous option: --val=xyz could match ..."
    (re.compile(r"(ambiguous option: [^\s=]+)=\S*"), r"\1"),
)

VALUE_FLAG_HINT = (
    "a secret value is never taken on the command line (it would stay in shell history and "
    "process lists): use --value-file FILE, or pipe it on stdin"
)


def safe_message(message: str) -> str:
    """An argparse error message with any quoted user input taken out."""
    for pattern, replacement in _QUOTING:
        message = pattern.sub(replacement, message)
    return message


def describe_extras(extras: Sequence[str]) -> str:
    """``unrecognized arguments`` without the arguments: option names only."""
    options = sorted({e.split("=", 1)[0] for e in extras if e.startswith("-")})
    if any(is_sensitive_key(o.lstrip("-")) or o.lstrip("-") in ("value", "v") for o in options):
        return VALUE_FLAG_HINT
    words = sum(1 for e in extras if not e.startswith("-"))
    parts = []
    if options:
        parts.append("unknown option" + ("s " if len(options) > 1 else " ") + ", ".join(options))
    if words:
        parts.append(f"{words} unexpected argument{'s' if words > 1 else ''} (not shown)")
    return "; ".join(parts) + " (see --help)"


class ParagraphFormatter(argparse.HelpFormatter):
    """Descriptions and epilogs wrapped paragraph by paragraph; a paragraph with indented
    lines (a table, a list of codes) is kept exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        out = []
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            if any(line[:1].isspace() for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(lines), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(out)


class QuietParser(argparse.ArgumentParser):
    """Errors without the offending text; subcommand parsers inherit the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", ParagraphFormatter)
        # No abbreviations: ``--value X`` must not be taken for ``--value-file X`` (which
        # would then try to open a file named after the secret).
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {safe_message(message)}\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        opts, extras = self.parse_known_args(args, namespace)
        if extras:
            self.print_usage(sys.stderr)
            self.exit(EXIT_USAGE, f"{self.prog}: error: {describe_extras(extras)}\n")
        return opts
