"""Every module of the package runs on the base dependencies alone (no test extras).

A fresh `pip install .` gets only `[project] dependencies` and what they pull in. This test
collects every top-level import in src/ (module level and inside functions), maps the
third-party ones to their distributions, and asserts each is declared or required by a declared
one — so a runtime import of a test-only package (httpx was one) fails here, in seconds, instead
of in a new user's first `demo --live`. Then it imports every module to catch broken imports.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as md
import pkgutil
import re
import sys
import tomllib
from pathlib import Path

import neighborwatch

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "neighborwatch"


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """Declared distributions plus everything they require (without extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r]
    return seen


def _imports(lazy: bool = True) -> dict[str, set[str]]:
    """{top-level module: files importing it} over every .py file of the package (`lazy=False`:
    only imports that run when the module is imported, i.e. not inside a function)."""
    out: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        nested = {
            id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if not lazy and id(node) in nested:
                continue
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for m in mods:
                out.setdefault(m.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_third_party_import_is_a_base_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _closure({_name(r) for r in project["dependencies"]})
    dists = md.packages_distributions()
    # an optional extra (not the test one) may be imported lazily, inside the function that needs it
    extras = _closure(
        {_name(r) for name, reqs in project.get("optional-dependencies", {}).items() if name != "test" for r in reqs}
    )
    eager = _imports(lazy=False)
    missing = {}
    for mod, files in _imports().items():
        if mod in sys.stdlib_module_names or mod in ("neighborwatch", "__future__"):
            continue
        owners = {d.lower().replace("_", "-") for d in dists.get(mod, [mod])}
        if not owners & base and (mod in eager or not owners & extras):
            missing[mod] = sorted(files)
    assert not missing, f"imported but not in the base dependencies (or their requirements): {missing}"


def test_the_check_sees_a_test_only_package() -> None:
    """The closure really excludes extras: pytest (a test extra) is not reachable from base deps."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "pytest" not in _closure({_name(r) for r in project["dependencies"]})
    assert "httpx" in _closure({_name(r) for r in project["dependencies"]})


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(neighborwatch.__path__, "neighborwatch.")]
    assert "neighborwatch.live_demo" in names and "neighborwatch.evaluation.incidents" in names
    for name in names:
        importlib.import_module(name)
