"""The API's detail reads run a fixed, small number of queries (issue 10, "Request path" in docs/PERFORMANCE.md):
the token with its user, the caller's groups where the scope needs them, the record, and the PHI access log's
INSERT with its asynchronous-commit switch in the same statement. A record that is not merged asks nothing about
merges (the row it was read from says so); a merged one still answers 308 (tests/people/test_merge_api.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db


def _detail(user, url: str) -> list[str]:
    api = client_for(user)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


def _about_merges(queries: list[str]) -> list[str]:
    return [
        sql
        for sql in queries
        if sql.startswith('SELECT "patient"."deletion_reason"') or sql.startswith('SELECT "person"."merged_into_id"')
    ]


@pytest.mark.parametrize("kind", ["patients", "persons"])
def test_a_detail_read_is_the_token_the_record_and_the_log(superuser, kind):
    patient = PatientFactory()
    record = patient if kind == "patients" else patient.person
    queries = _detail(superuser, f"{API}/{kind}/{record.pk}/")
    # The request's savepoint and its release, the record, the log's INSERT (the test client authenticates
    # without the token's query).
    assert len(queries) == 4, [sql[:60] for sql in queries]
    assert not _about_merges(queries)
    assert sum("phi_access_log" in sql for sql in queries) == 1
    assert sum(sql.startswith("SET LOCAL synchronous_commit = off; ") for sql in queries) == 1


def test_a_navigator_s_detail_read_adds_only_the_scope(navigator_user):
    patient = PatientFactory(person=PersonFactory(last_name="Scoped"))
    queries = _detail(navigator_user, f"{API}/patients/{patient.pk}/")
    assert not _about_merges(queries)
    # The superuser's four plus the caller's groups (read once for the request) and permissions.
    assert len(queries) == 6, [sql[:60] for sql in queries]
