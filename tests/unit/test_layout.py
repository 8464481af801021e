"""The rooms of graph/ keep to what their docstrings say they may import; engine/ stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

GRAPH = Path(__file__).resolve().parents[2] / "graph"
ENGINE = GRAPH.parent / "engine"
# what engine/ must never import: I/O, asyncio, and the layers built on top of it
ENGINE_FORBIDDEN = {
    "asyncio", "pymongo", "redis", "strawberry", "starlette", "socket", "domains", "graph",
    "subscriptions",
}  # fmt: skip

# room -> the graph rooms (sub-packages or top-level modules) it must never import
FORBIDDEN = {
    "security": {"http", "writer", "streams", "reports", "ops", "bootstrap", "ws"},
    "writer": {"http", "security", "streams", "reports", "ops", "ws", "schema", "context"},
    "streams": {"http", "security", "writer", "reports", "ops", "bootstrap"},
    "reports": {"http", "ops"},
    "http": {"writer", "ops"},
}


def graph_imports(path: Path) -> set[str]:
    """The first component under graph. of every graph import in a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "graph" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_graph_top_level_keeps_a_handful_of_modules() -> None:
    assert len(list(GRAPH.glob("*.py"))) <= 8


def test_every_room_opens_with_a_docstring() -> None:
    for init in GRAPH.glob("*/__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), init


def test_no_room_imports_what_it_must_not() -> None:
    for room, forbidden in FORBIDDEN.items():
        for module in (GRAPH / room).glob("*.py"):
            leaked = graph_imports(module) & forbidden
            assert not leaked, f"{module.relative_to(GRAPH)} imports graph.{sorted(leaked)}"


def top_level_imports(path: Path) -> set[str]:
    """The top-level package of every import in a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_engine_imports_no_io_nor_asyncio_nor_the_layers_above_it() -> None:
    modules = sorted(ENGINE.rglob("*.py"))
    assert len(modules) > 10
    for module in modules:
        leaked = top_level_imports(module) & ENGINE_FORBIDDEN
        assert not leaked, f"{module.relative_to(ENGINE.parent)} imports {sorted(leaked)}"
