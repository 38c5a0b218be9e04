"""The architecture, checked: which package may import which, and no import cycle between modules.

    cli -> api -> bot -> {knowledge_base, retrieval, handoff} -> tier0

Imports inside functions count too (they are how a heavy module is loaded late, not a way around a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
DOMAIN = {"tier0", "knowledge_base", "retrieval", "handoff"}
ALLOWED = {
    "tier0": {"tier0"},
    "knowledge_base": {"tier0", "knowledge_base"},
    "retrieval": {"tier0", "retrieval"},
    "handoff": {"tier0", "handoff"},
    "bot": DOMAIN | {"bot"},
    "analytics": DOMAIN | {"bot", "analytics"},
    "api": DOMAIN | {"bot", "analytics", "api"},
    "cli": DOMAIN | {"bot", "analytics", "api", "cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (absolute dotted names; ``from a import b`` yields a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            for a in node.names:
                yield f"{module}.{a.name}"


def _our_modules() -> Dict[str, Path]:
    return {_module_name(p): p for pkg in ALLOWED for p in (REPO / pkg).rglob("*.py")}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    bad = []
    for path in (REPO / package).rglob("*.py"):
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top in ALLOWED and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_domain_packages_do_not_import_web_or_rasa():
    for package in DOMAIN:
        for path in (REPO / package).rglob("*.py"):
            mods = {m.split(".")[0] for m in _imports(path)}
            assert not mods & {"fastapi", "starlette", "rasa", "rasa_sdk"}, path


def import_graph() -> Dict[str, Set[str]]:
    modules = _our_modules()
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for mod in _imports(path):
            if mod in modules and mod != name and not name.startswith(mod + "."):  # a package's own __init__
                graph[name].add(mod)
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)
