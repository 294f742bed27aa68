"""Which way imports point, read from the source with ``ast`` (nothing is imported).

Every import counts, including those inside functions: a lazy import is still an arrow, and
hiding a circle behind one is exactly what this test is here to catch. Only imports under
``if TYPE_CHECKING:`` are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "models", "mpesa", "airtel")


def module_name(path: Path) -> str:
    """``bot/telegram/app.py`` -> ``bot.telegram.app``; a package's ``__init__`` -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the product, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """The dotted names ``name`` imports at run time (a module when known, else as written)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:
            base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*base_parts, node.module] if node.module else base_parts)
        else:
            base = node.module or ""
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            # `from bot.telegram import staff` imports the module bot.telegram.staff
            names.add(candidate if candidate in known else base)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules and packages it imports (outside names kept as written)."""
    modules = project_modules()
    known = set(modules)
    return {name: imported_names(name, path, known) for name, path in modules.items()}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def find_cycle(graph: dict[str, set[str]], scope: str) -> list[str] | None:
    """One import circle among the modules under ``scope``, as a path, or None."""
    edges = {
        name: sorted(t for t in targets if _within(t, scope) and t in graph and t != name)
        for name, targets in graph.items()
        if _within(name, scope)
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, []):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def forbidden_arrows(
    graph: dict[str, set[str]], source: str, targets: tuple[str, ...]
) -> list[str]:
    """Every ``module -> import`` from under ``source`` to anything under ``targets``."""
    return sorted(
        f"{name} -> {imported}"
        for name, imports in graph.items()
        if _within(name, source)
        for imported in imports
        if any(_within(imported, target) for target in targets)
    )


GRAPH = import_graph()


def test_bot_has_no_import_circle() -> None:
    assert find_cycle(GRAPH, "bot") is None


@pytest.mark.parametrize(
    ("source", "targets"),
    [
        # services hold the rules; the edges call them, never the other way round
        ("bot.services", ("bot.web", "bot.telegram", "bot.cli", "bot.main", "telegram", "aiohttp")),
        ("mpesa", ("bot", "models")),
        ("airtel", ("bot", "models")),
        ("models", ("bot",)),
    ],
)
def test_imports_point_one_way(source: str, targets: tuple[str, ...]) -> None:
    assert forbidden_arrows(GRAPH, source, targets) == []


# The checks above pass on a clean tree whatever they do; these show they can fail.


def test_a_circle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    source = "def later():\n    from bot.telegram.app import publish_commands\n"
    (tmp_path / "staff_admin.py").write_text(source)
    known = {"bot.telegram.app", "bot.telegram.staff_admin"}
    graph = {
        "bot.telegram.app": {"bot.telegram.staff_admin"},
        "bot.telegram.staff_admin": imported_names(
            "bot.telegram.staff_admin", tmp_path / "staff_admin.py", known
        ),
    }

    assert find_cycle(graph, "bot") == [
        "bot.telegram.app",
        "bot.telegram.staff_admin",
        "bot.telegram.app",
    ]


def test_a_type_checking_import_is_not_an_arrow(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from bot.web.app import create_app\n"
    )
    (tmp_path / "mod.py").write_text(source)
    known = {"bot.services.mod", "bot.services.sibling"}

    assert imported_names("bot.services.mod", tmp_path / "mod.py", known) == {
        "typing",
        "bot.services.sibling",
    }


def test_a_service_importing_the_web_layer_is_an_arrow_the_wrong_way() -> None:
    graph = {"bot.services.container": {"bot.web.paths", "bot.config"}}

    assert forbidden_arrows(graph, "bot.services", ("bot.web",)) == [
        "bot.services.container -> bot.web.paths"
    ]
