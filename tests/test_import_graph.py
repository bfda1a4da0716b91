"""Imports point down the layers and never in a circle (DESIGN.md), read with `ast` over src/.

Every import counts, also one inside a function (a function-level import hides a cycle, it does
not remove it); only imports under `if TYPE_CHECKING:` are left out, as they never run. Layers,
bottom → top: shared helpers → data → sequences → training (the generic torch harness) → models
→ evaluation → streaming → service → scale (Ray engines) → cli. Within a layer, any direction,
as long as there is no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "neighborwatch"
LAYERS = ("bottom", "data", "sequences", "training", "models", "evaluation", "streaming", "service", "scale", "cli")
#: top-level modules, by the layer of what they do
TOP_LEVEL = {
    "__init__": "bottom",
    "progress": "bottom",
    "workdir": "bottom",
    "jsonutil": "bottom",
    "errors": "bottom",
    "pipeline": "sequences",
    "replay": "streaming",
    "live_demo": "cli",
    "demo": "cli",
    "cli": "cli",
    "__main__": "cli",
}
#: known violations (none today; an entry that no longer exists fails the test)
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str) -> set[str]:
    """The project modules `name` imports (a `from pkg import sub` that names a module → that module)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1:
        return LAYERS.index("bottom")
    if len(parts) == 2 and parts[1] in TOP_LEVEL:
        return LAYERS.index(TOP_LEVEL[parts[1]])
    return LAYERS.index(parts[1])


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer(name)  # raises ValueError for a package or top-level module no layer lists


def test_imports_point_down_the_layers() -> None:
    upward = sorted((a, b) for a, targets in GRAPH.items() for b in targets if layer(b) > layer(a))
    unexpected = [
        f"{a} ({LAYERS[layer(a)]}) imports {b} ({LAYERS[layer(b)]})" for a, b in upward if (a, b) not in ALLOWED
    ]
    assert not unexpected, "\n".join(unexpected)
    stale = ALLOWED - set(upward)
    assert not stale, f"allowed violations that are gone (remove them from ALLOWED): {sorted(stale)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in graph:
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, " → ".join(cycle or [])


@pytest.mark.parametrize(
    "graph, cyclic",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"d"}}, True),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(graph) is not None) == cyclic


def test_function_level_imports_count() -> None:
    """The reader sees an import inside a function (this is how cycles used to hide)."""
    assert "neighborwatch.evaluation.benchmark" in GRAPH["neighborwatch.cli"]
