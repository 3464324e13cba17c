"""The packages' layering: ``shared/`` (the event-sourcing kit) imports neither the services nor
the tools, and ``services/`` does not import the tools (``songji/``, the CLI, the demo, the
launcher and the auditor's replay, which may import both).

Every import statement counts, wherever it is (inside a function, under ``TYPE_CHECKING``),
and so does ``importlib.import_module`` or ``__import__`` of a constant name."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in ``source``; relative imports stay in their
    own package and are not reported."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (name in ("import_module", "__import__") and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)):
                yield node.lineno, first.value


def violations(package: str, forbidden: set[str]) -> list[str]:
    """``file:line module`` for each import under ``package`` of a top-level package in
    ``forbidden``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} {module}")
    return found


def test_the_checker_finds_every_form_of_import() -> None:
    source = (
        "import services.funding\n"
        "from songji.audit import cli\n"
        "def later():\n"
        "    from services.enrolment.vault import SEALED\n"
        "    importlib.import_module('songji.launcher')\n"
        "    __import__('services')\n"
        "from . import sibling\n"
        "import servicesque\n"
    )
    found = [m for _, m in imported_modules(source) if m.split(".")[0] in {"services", "songji"}]
    assert found == ["services.funding", "songji.audit", "services.enrolment.vault",
                     "songji.launcher", "services"]


@pytest.mark.parametrize("package", ["shared", "services"])
def test_the_checked_packages_have_their_modules(package: str) -> None:
    # A walk over a moved or misspelt folder would find nothing and pass.
    assert len(list((ROOT / package).rglob("*.py"))) > 20


def test_the_kit_imports_neither_the_services_nor_the_tools() -> None:
    assert violations("shared", {"services", "songji"}) == []


def test_the_services_do_not_import_the_tools() -> None:
    assert violations("services", {"songji"}) == []
