"""The import layers of docs/architecture.md, checked on the source: every import points down (or
sideways inside the foundation), roles never import each other, and no two modules or packages
import each other in a circle. Imports inside functions and under TYPE_CHECKING count too. And no
module grows past 500 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "core", "web", "smtp", "actors", "scheduler", "cli")
# Lowest first. A module may import its own unit and any unit of a lower layer; units of one layer
# may import each other, but never in a circle. `core` alone is the base: the modules directly in
# core/ (config, databases, broker, runtime, caches, errors…).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("models",),
    ("core", "core.mail", "core.inspection"),
    ("core.tenancy", "core.messages", "core.webhooks"),
    ("core.queue",),
    ("core.outgoing",),
    ("core.incoming",),
    ("core.jobs",),
    ("web", "smtp", "actors", "scheduler"),
    ("cli",),
)
# Units of one layer that must not import each other at all: the process roles are independent,
# the CLI starts them.
INDEPENDENT = {"web", "smtp", "actors", "scheduler"}
# The foundation is one unit for the package-level circle check: the base and the mail and
# inspection toolkits use each other's modules (config types, tokens, DKIM keys) without a cycle
# between modules, which the module-level check enforces.
FOUNDATION = {"core", "core.mail", "core.inspection"}
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def module_files(root: Path = ROOT) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            if "versions" in rel.parts:  # alembic revisions: generated, import only alembic
                continue
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def unit_of(module: str) -> str:
    """The layer unit a module belongs to: its package for the named ones, else its top level."""
    parts = module.split(".")
    if parts[0] == "core" and len(parts) > 1 and f"core.{parts[1]}" in RANK:
        return f"core.{parts[1]}"
    return parts[0]


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import statement anywhere in the file."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from package import submodule` imports the submodule.
            submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
            names = submodules or [source]
        for name in names:
            target = name
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A module's own packages are imported before it anyway; that is no dependency.
            if target and target != module and not module.startswith(target + "."):
                yield target, node.lineno


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    modules = module_files(root)
    return {module: dict(imports_of(module, path, modules)) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def layer_violations(graph: dict[str, dict[str, int]], files: dict[str, Path], root: Path = ROOT) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        mine = unit_of(module)
        for target, line in sorted(targets.items()):
            theirs = unit_of(target)
            if theirs == mine:
                continue
            where = f"{files[module].relative_to(root)}:{line}"
            if RANK[theirs] > RANK[mine]:
                problems.append(f"{where}: {module} imports {target}, a layer above it")
            elif mine in INDEPENDENT and theirs in INDEPENDENT:
                problems.append(f"{where}: the role {mine} imports the role {theirs} ({target})")
    return problems


def unit_graph(graph: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    def unit(module: str) -> str:
        name = unit_of(module)
        return "foundation" if name in FOUNDATION else name

    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    return units


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_every_package_of_the_tree_has_a_layer(graph: dict[str, dict[str, int]]) -> None:
    assert {unit_of(module) for module in graph} <= set(RANK)
    # A new folder in core/ needs its place in LAYERS (and a line in docs/architecture.md).
    folders = {f"core.{p.name}" for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()}
    assert folders - {"core.config"} <= set(RANK)


def test_imports_point_down(graph: dict[str, dict[str, int]]) -> None:
    assert layer_violations(graph, module_files()) == []


def test_no_module_imports_itself_in_a_circle(graph: dict[str, dict[str, int]]) -> None:
    assert cycles({module: set(targets) for module, targets in graph.items()}) == []


def test_no_package_imports_itself_in_a_circle(graph: dict[str, dict[str, int]]) -> None:
    assert cycles(unit_graph(graph)) == []


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    """STYLE rule 1: split a module at 500 lines. Alembic revisions are history and stay whole."""
    files = [*module_files().values(), *sorted((ROOT / "bench").glob("*.py"))]
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


# -- the checks themselves catch what they are for -----------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"core/db.py": "from web.app import create_app\n", "web/app.py": ""})
    graph = import_graph(root)
    files = module_files(root)
    problems = [p.split(": ", 1)[1] for p in layer_violations(graph, files, root)]
    assert problems == ["core.db imports web.app, a layer above it"]


def test_a_lazy_import_between_roles_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"smtp/server.py": "def f():\n    import web.app\n", "web/app.py": ""})
    problems = layer_violations(import_graph(root), module_files(root), root)
    assert [p.split(": ", 1)[1] for p in problems] == ["the role smtp imports the role web (web.app)"]


def test_circles_are_found_between_modules_and_between_packages(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "core/a.py": "from core.b import x\n",
            "core/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.a import y\n",
            "core/tenancy/__init__.py": "",
            "core/tenancy/t.py": "from core.messages.m import z\n",
            "core/messages/__init__.py": "",
            "core/messages/m.py": "from core.tenancy import t\n",
        },
    )
    graph = import_graph(root)
    assert cycles({m: set(t) for m, t in graph.items()}) == [
        ["core.a", "core.b"],
        ["core.messages.m", "core.tenancy.t"],
    ]
    assert cycles(unit_graph(graph)) == [["core.messages", "core.tenancy"]]
