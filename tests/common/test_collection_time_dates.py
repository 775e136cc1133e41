"""No test computes "now" or "today" when pytest collects it.

A date computed at import time (module or class level, a ``parametrize`` list, a default argument) is
the date the suite started, not the date the test runs: a suite that crosses midnight tested a "future"
date of birth that had become today, and failed. Such values go inside the test or a fixture, or into a
``parametrize`` list as ``tests.relative_dates.FromToday`` / ``FromNow``.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from django.utils import timezone

from tests.relative_dates import FromNow, FromToday, resolve

TESTS = Path(__file__).resolve().parents[1]
CLOCK_READS = {"now", "today", "localdate", "localtime", "utcnow"}


def _clock_reads(node: ast.AST) -> list[int]:
    return [
        call.lineno
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in CLOCK_READS
    ]


def collection_time_reads(tree: ast.AST) -> list[int]:
    """Lines that read the clock when the module is imported: outside any function body, or in a
    decorator or default argument of a function defined at import time."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for evaluated_now in [*getattr(node, "decorator_list", []), *node.args.defaults, *node.args.kw_defaults]:
                if evaluated_now is not None:
                    found.extend(_clock_reads(evaluated_now))
            return  # the body runs when the test does
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_READS:
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return sorted(set(found))


def test_no_test_module_reads_the_clock_at_collection_time():
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in collection_time_reads(ast.parse(path.read_text(), filename=str(path)))
    ]
    assert found == []


def test_the_check_sees_a_date_in_a_parametrize_list_a_default_and_at_module_level():
    source = """
TODAY = timezone.localdate()

@pytest.mark.parametrize("when", [timezone.now() + dt.timedelta(days=1)])
def test_a(when, since=dt.date.today()):
    inside = timezone.now()  # fine: runs with the test

class Factory:
    created = factory.LazyFunction(lambda: timezone.now())  # fine: runs when a row is built
    at = timezone.now()
"""
    assert collection_time_reads(ast.parse(source)) == [2, 4, 5, 10]


def test_relative_values_are_taken_when_the_test_resolves_them(monkeypatch):
    values = {"date_of_birth": FromToday(days=1), "text": FromToday(days=2, iso=True), "at": FromNow(hours=2)}
    midnight_passed = dt.datetime(2031, 1, 2, 0, 0, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: midnight_passed)
    monkeypatch.setattr(timezone, "localdate", lambda: dt.date(2031, 1, 2))
    assert resolve({**values, "name": "Ann"}) == {
        "date_of_birth": dt.date(2031, 1, 3),
        "text": "2031-01-04",
        "at": midnight_passed + dt.timedelta(hours=2),
        "name": "Ann",
    }
