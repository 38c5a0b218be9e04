"""Dependency direction: bot -> {knowledge_base, retrieval, handoff} -> tier0. Never the other way."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALLOWED = {
    "tier0": {"tier0"},
    "knowledge_base": {"tier0", "knowledge_base"},
    "retrieval": {"tier0", "retrieval"},
    "handoff": {"tier0", "handoff"},
    "bot": {"tier0", "knowledge_base", "retrieval", "handoff", "bot"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.unit
@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    ours = set(ALLOWED)
    bad = []
    for path in (REPO / package).rglob("*.py"):
        for mod in _imports(path):
            if mod in ours and mod not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(bad)


@pytest.mark.unit
def test_domain_packages_do_not_import_web_or_rasa():
    for package in ("tier0", "knowledge_base", "retrieval", "handoff"):
        for path in (REPO / package).rglob("*.py"):
            mods = set(_imports(path))
            assert not mods & {"fastapi", "starlette", "rasa", "rasa_sdk"}, path
