"""List routes of enrolment, training, assessment, notifications and employment page in SQL
(``answer_page`` on a keyset query), never a whole query's result in memory: ``one_page`` is
only for the catalogue routes, which page reference data held in code. A new call of
``one_page`` in these services fails here until it is one of those."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("enrolment", "training", "assessment", "notifications", "employment")
# (file, function): the routes allowed to page a list held in memory, and why
IN_MEMORY = {("services/training/api.py", "get_occupations"),  # the catalogue, in code
             ("services/training/api.py", "get_destinations")}  # destination demand, in code


def functions_calling_one_page(source: str) -> set[str]:
    """The functions in ``source`` that call ``one_page`` (by name or as an attribute)."""
    found = set()
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(node, ast.Call) and _name(node.func) == "one_page"
                for node in ast.walk(function)):
            found.add(function.name)
    return found


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def test_only_the_catalogue_routes_page_in_memory() -> None:
    found = {(str(path.relative_to(ROOT)), name)
             for service in SERVICES
             for path in sorted((ROOT / "services" / service).rglob("*.py"))
             for name in functions_calling_one_page(path.read_text(encoding="utf-8"))}
    assert found == IN_MEMORY


def test_the_checker_finds_each_form_of_call() -> None:
    source = ("async def a():\n    return paging.one_page(rows, key, page, r, s)\n"
              "def b():\n    return one_page(rows, key, page, r, s)\n"
              "def c():\n    return answer_page(rows, key, page, r, s)\n")
    assert functions_calling_one_page(source) == {"a", "b"}
