"""The package's shape: no import cycle (type-only and function-level imports counted), a short top level.

The layers themselves (which package may import which) are import-linter's contracts in pyproject.toml,
run by ``.ci/run``; this test reads the source with ``ast`` so a cycle is caught even between modules of
one layer, which a layers contract allows to import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("arbscan", "adapters")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The modules of ours one import statement names: ``from a.b import c`` is ``a.b.c`` when that is a module."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        if node.level:
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    out = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    """Every module of ``arbscan`` and ``adapters`` -> the modules of ours it imports, wherever the import is."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(name, path, node, modules)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_planted_cycle_and_a_type_only_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from arbscan.app import x\n"
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom) and n.module == "arbscan.app")
    assert _imported("arbscan.model", ROOT / "arbscan/model.py", node, _modules()) == {"arbscan.app"}


def test_no_import_cycle_in_arbscan_or_adapters():
    graph = import_graph()
    assert len(graph) > 100  # the walk saw the packages
    assert cycles(graph) == []


def test_at_most_ten_modules_directly_under_arbscan():
    top = sorted(p.name for p in (ROOT / "arbscan").glob("*.py"))
    assert len(top) <= 10, top


@pytest.mark.parametrize("init", sorted((ROOT / "arbscan").glob("*/__init__.py")), ids=lambda p: p.parent.name)
def test_every_subpackage_says_its_job_and_its_layer(init):
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert len(doc) > 200, f"{init.parent.name}/__init__.py needs a docstring saying what it owns"
    assert "layer" in doc.lower(), f"{init.parent.name}/__init__.py should say what it may import (its layer)"
