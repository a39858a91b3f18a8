"""One home for the result codes (rotation/codes.py): the README's table is the registry,
every code raised in the product is registered, and every registered code is raised
somewhere. A new code, or a code that stopped being used, fails here until both agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rotation import codes

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "handler.py", *sorted((ROOT / "rotation").rglob("*.py"))]
CODE_SHAPE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
#: Constructors whose first argument is the code (the others take ``code=``).
CODE_FIRST = {"RotationFailure", "JobUnusable", "SettingsError"}


def _readme_table() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- codes:begin -->\n", 1)[1].split("<!-- codes:end -->", 1)[0]
    return block.strip()


def test_the_readme_table_is_the_registry() -> None:
    assert _readme_table() == codes.markdown_table().strip(), (
        "README's result codes differ from rotation/codes.py: paste `python -m rotation.codes`"
    )


def test_every_code_has_a_meaning_and_an_action() -> None:
    for code in codes.CODES.values():
        assert CODE_SHAPE.fullmatch(code.name), code.name
        assert code.meaning and code.action, code.name
        assert "|" not in code.meaning + code.action, code.name  # would break the table


def _literal_codes(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals shaped like a code, where a code goes: a coded error's first
    argument or ``code=``, or an assignment to ``code``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call):
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if name in CODE_FIRST and node.args:
                values.append(node.args[0])
            values += [k.value for k in node.keywords if k.arg == "code"]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "code" for t in targets) and node.value:
                values.append(node.value)
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                if CODE_SHAPE.fullmatch(value.value):
                    found.append((value.lineno, value.value))
            elif isinstance(value, ast.JoinedStr):
                found.append((value.lineno, "<f-string>"))
    return found


def test_codes_are_raised_through_the_registry_not_as_literals() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {text}"
        for path in SOURCES
        if path.name != "codes.py"
        for line, text in _literal_codes(ast.parse(path.read_text()))
    ]
    assert offenders == [], "use rotation.codes constants instead"


def test_every_registered_code_is_used_somewhere() -> None:
    used: set[str] = set()
    for path in SOURCES:
        if path.name == "codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "codes"
            ):
                used.add(node.attr)
    unused = sorted(set(codes.CODES) - used)
    assert unused == [], f"registered but never returned: {unused}"


def test_the_check_catches_a_literal_code() -> None:
    """The literal scan is not vacuous."""
    tree = ast.parse('raise RotationFailure("MADE_UP", "x")\nclass E:\n    code = "ALSO_MADE_UP"\n')
    assert [text for _, text in _literal_codes(tree)] == ["MADE_UP", "ALSO_MADE_UP"]


def test_advice_for_an_unknown_code_points_at_the_log() -> None:
    assert "history" in codes.advice("NOT_A_CODE")
    assert codes.advice(codes.TARGET_ACCOUNT_LOCKED).startswith("unlock")
