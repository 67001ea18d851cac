"""The layout is the architecture: the render core imports no edge, and nothing cycles.

Imports are read with ``ast`` from every module of the package, those inside functions
included (a lazy import is still a dependency). The checks run on the real tree and on a
planted copy, so each can be seen to fail.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hfaction"
CORE = "hfaction.render"
EDGES = ("hfaction.aws", "hfaction.github", "hfaction.policies", "hfaction.cdk", "hfaction.cli")
# Libraries that belong to the edges: AWS, the command line and its terminal output.
EDGE_LIBRARIES = ("boto3", "botocore", "moto", "typer", "rich", "aws_cdk", "constructs")


def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, name: str) -> set[str]:
    """Every module name an ``import`` anywhere in the file names (relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # ``from package import module`` imports the module.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(package_dir: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(graph between the package's modules, every name each module imports)."""
    modules = {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    everything = {name: imported_names(path, name) for name, path in modules.items()}
    graph = {name: {other for other in names if other in modules and other != name}
             for name, names in everything.items()}
    return graph, everything


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def core_violations(package_dir: Path) -> list[str]:
    _, everything = import_graph(package_dir)
    return sorted(
        f"{module} imports {name}"
        for module, names in everything.items() if _within(module, (CORE,))
        for name in names if _within(name, EDGES + EDGE_LIBRARIES)
    )


def cycles(package_dir: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph, _ = import_graph(package_dir)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_render_core_imports_no_edge() -> None:
    assert core_violations(PACKAGE) == []


def test_no_module_imports_cycle_back_to_itself() -> None:
    assert cycles(PACKAGE) == []


def test_edges_do_not_import_the_command_line() -> None:
    _, everything = import_graph(PACKAGE)
    offenders = sorted(f"{module} imports {name}" for module, names in everything.items()
                       if _within(module, EDGES[:-1])
                       for name in names if _within(name, ("hfaction.cli",)))
    assert offenders == []


@pytest.fixture()
def planted(tmp_path: Path) -> Path:
    copy = tmp_path / "hfaction"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize("line", [
    "import boto3\n",
    "from hfaction.aws.facade import AwsFacade\n",
    "def later() -> None:\n    from rich.console import Console\n",
    "from ..github import summary\n",
])
def test_the_core_check_catches_a_planted_edge_import(planted: Path, line: str) -> None:
    encode = planted / "render" / "encode.py"
    encode.write_text(encode.read_text() + "\n" + line)
    violations = core_violations(planted)
    assert violations
    assert all(v.startswith("hfaction.render.encode imports ") for v in violations)


def test_the_cycle_check_catches_a_planted_cycle_through_a_function(planted: Path) -> None:
    framemath = planted / "render" / "framemath.py"
    framemath.write_text(framemath.read_text()
                         + "\n\ndef _late() -> None:\n    from hfaction.render import planner\n")
    assert any({"hfaction.render.framemath", "hfaction.render.planner"} <= set(cycle)
               for cycle in cycles(planted))
