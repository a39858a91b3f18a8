"""The layering is checked, not remembered: what each part of the tree may import.

Three parts (ARCHITECTURE.md): the **NCP client** (``rotation/ncp/``), the **rotation**
built on it (the rest of ``rotation/``, ``handler.py``, and ``deploy/`` which ships it),
and the **emulator** that stands in for NCP. The rules, read from the source with ``ast``
(every ``import``, at module level or inside a function):

* ``rotation.ncp`` imports nothing else of this project: not the workflow, the targets,
  the CLI, nor anything else in ``rotation``.
* ``rotation`` imports nothing outside ``rotation`` (no emulator, deploy, tests, bench).
* ``handler.py`` imports only ``rotation``; ``deploy`` only ``rotation`` and itself.
* The emulator imports only itself: it stands in for NCP, so it must not share the code it
  examines.
* ``appcreds`` (the application kit) imports only ``rotation.ncp`` and itself: an
  application installs the NCP client, never the rotation.
* No import cycle inside ``rotation``.

The exceptions are named in :data:`EXCEPTIONS`, each with its reason, and each must still
be needed (a stale exception fails too). ``tests`` and ``bench`` may import anything.

An AST test rather than import-linter: it needs no new dependency, reads in one screen,
and states the per-module exceptions with their reasons beside the rule. The runtime side
(:func:`test_the_ncp_client_loads_alone`) imports each client module in a fresh
interpreter and looks at ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("rotation", "emulator", "deploy", "handler", "tests", "bench", "appcreds")

#: Part (the longest matching prefix wins) -> the first-party packages it may import.
#: ``None``: anything.
ALLOWED: dict[str, tuple[str, ...] | None] = {
    "rotation.ncp": ("rotation.ncp",),
    "rotation": ("rotation",),
    "handler": ("rotation",),
    "deploy": ("deploy", "rotation"),
    "emulator": ("emulator",),
    "appcreds": ("appcreds", "rotation.ncp"),
    "tests": None,
    "bench": None,
}

#: (importing module, imported prefix) -> why it is allowed anyway.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("emulator.app", "rotation.ncp"): (
        "the facade's convenience constructors, Emulator.client() and .credentials: a "
        "SecretManagerClient and Credentials for this emulator; the core (models, routes, "
        "runtime) never sees them"
    ),
    ("emulator.demo", "rotation"): (
        "the demo shows the rotation against the emulator: it drives the client and prints "
        "with the CLI's display"
    ),
    ("rotation.cli.invoke", "handler"): (
        "`rotation invoke` and a local `rotation resume` run the deployed entry point here "
        "(imported inside run_handler only)"
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {"handler": ROOT / "handler.py"}
    for package in FIRST_PARTY:
        if (ROOT / package).is_dir():
            for path in sorted((ROOT / package).rglob("*.py")):
                found[module_name(path)] = path
    return found


SOURCES = sources()


def is_package(module: str) -> bool:
    return SOURCES.get(module, Path()).name == "__init__.py"


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """The first-party modules ``module`` imports, with the line: ``from a.b import c`` is
    ``a.b.c`` when that is a module, else ``a.b``; relative imports are resolved."""
    tree = ast.parse(SOURCES[module].read_text(encoding="utf-8"))
    package = module if is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from ..a import b
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{a.name}" for a in node.names]
            names = [name if name in SOURCES else base for name in names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FIRST_PARTY:
                yield name, node.lineno


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def part_of(module: str) -> str:
    return max((p for p in ALLOWED if within(module, p)), key=len)


def test_the_tree_is_found() -> None:
    """The check reads what it should: every part has modules, and the client is there."""
    for part in ALLOWED:
        assert any(within(m, part) for m in SOURCES), f"no module in {part}"
    assert {"rotation.ncp.transport", "rotation.workflow", "emulator.app"} <= set(SOURCES)


def test_each_part_imports_only_what_it_may() -> None:
    used: set[tuple[str, str]] = set()
    violations: list[str] = []
    for module in SOURCES:
        allowed = ALLOWED[part_of(module)]
        if allowed is None:
            continue
        for name, line in imports_of(module):
            if any(within(name, prefix) for prefix in allowed):
                continue
            excused = [key for key in EXCEPTIONS if key[0] == module and within(name, key[1])]
            if excused:
                used.update(excused)
                continue
            violations.append(f"{SOURCES[module].relative_to(ROOT)}:{line} imports {name}")
    assert not violations, "imports across the layers:\n" + "\n".join(violations)
    assert used == set(EXCEPTIONS), f"exceptions no longer needed: {set(EXCEPTIONS) - used}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a self-import
    (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found() -> None:
    """The cycle finder itself, on a graph with one cycle and one chain."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def test_no_import_cycle_inside_rotation() -> None:
    modules = [m for m in SOURCES if within(m, "rotation")]
    graph = {m: {n for n, _ in imports_of(m) if n in modules} for m in modules}
    assert sum(map(len, graph.values())) > 20, "the graph should hold rotation's imports"
    assert cycles(graph) == []


NCP_MODULES = sorted(m for m in SOURCES if within(m, "rotation.ncp"))

LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("module", NCP_MODULES)
def test_the_ncp_client_loads_alone(module: str) -> None:
    """The runtime side: importing any client module, in a fresh interpreter, loads no
    other part of the project (no workflow, targets or CLI, nothing outside the client)."""
    run = subprocess.run(
        [sys.executable, "-c", LOADED, module],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    loaded = set(json.loads(run.stdout))
    assert module in loaded
    ours = {m for m in loaded if m.split(".")[0] in FIRST_PARTY}
    outside = sorted(m for m in ours if m != "rotation" and not within(m, "rotation.ncp"))
    assert not outside, f"importing {module} loads {outside}"
    assert not {"rotation.workflow", "rotation.targets", "rotation.cli"} & ours
