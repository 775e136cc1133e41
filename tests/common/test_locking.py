"""No ``select_for_update()`` joined with ``select_related()`` anywhere in the project.

In READ COMMITTED, PostgreSQL re-reads the locked row once the lock is granted, but the rows joined to it
come from the snapshot taken before the wait: a lead converted meanwhile points at a patient the join
does not see (issue 9, a 500 under concurrent conversions). Lock the row alone, read related rows after.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("cm_program", "common", "crm_project", "journeys", "patients", "people")


def _chain(node: ast.AST) -> list[str]:
    """The method names of a call chain such as ``Model.objects.select_for_update().get(pk=1)``."""
    names = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        else:
            return names


def locking_joins() -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Call) and {"select_for_update", "select_related"} <= set(_chain(node)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sorted(set(found))


def test_no_locking_query_joins_related_rows():
    assert locking_joins() == []


def test_the_check_sees_a_locking_join():
    source = 'PatientLead.objects.select_for_update(of=("self",)).select_related("converted_patient").get(pk=1)'
    call = ast.parse(source).body[0].value
    assert {"select_for_update", "select_related"} <= set(_chain(call))
