"""Every API list (each router's list and each GET action that lists) has a test that its query count is the same
at 1 row and at 50 (issue 10, point 4: "cover all"). Most live next to their apps; this file holds the merge
queues' and a canonical patient's candidates, and the check that no list is left without one: a new list endpoint
fails here until it is measured."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.run.cases import _registries
from cm_program.models import CanonicalPatient
from common.merge.models import MergeLog
from people.models import PersonMergeRequest
from tests.cm_program.test_api_scope import LISTS as CM_LISTS
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, client_for
from tests.patients.test_api_robustness import LISTS as NAVIGATION_LISTS

pytestmark = pytest.mark.django_db

# Lists whose 1-vs-N test has a shape of its own.
ELSEWHERE = {
    "persons/{id}/duplicates": "tests/people/test_api_duplicates.py",
    "merges": "tests/people/test_merge_api.py",
    "cm/intakeq-match-candidates": "tests/cm_program/test_api_match_candidates.py",
    # One patient's record (not a list): its selector runs the same queries for 1 and 5 enrollments.
    "cm/canonical-patients/{id}/complete": "tests/cm_program/test_selectors.py",
}


def _key(path: str) -> str:
    """``/patients/{patient}/calls/`` -> ``patients/{id}/calls``."""
    return re.sub(r"\{\w+\}", "{id}", path.strip("/"))


def api_lists() -> set[str]:
    """Every GET list endpoint the API routes: each router's list, and each GET action (a list, or a page)."""
    found = set()
    for prefix, viewset, basename in _registries():
        base = ("cm/" if basename.startswith("cm-") else "") + re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", prefix)
        if hasattr(viewset, "list"):
            found.add(base)
        for action in viewset.get_extra_actions():
            if "get" in action.mapping:
                found.add(f"{base}/{{id}}/{action.url_path}" if action.detail else f"{base}/{action.url_path}")
    return found


def _cm_key(name: str) -> str:
    return "cm/enrollments/{id}/ledger" if name == "ledger" else f"cm/{name}"


def _merge_requests(n: int, user) -> None:
    for _ in range(n):
        PersonMergeRequest.objects.create(
            survivor=PersonFactory(), duplicate=PersonFactory(), reason="Same phone", requested_by=user
        )


def _cm_merges(n: int, user) -> None:
    MergeLog.objects.bulk_create(
        MergeLog(
            model="cm_program.canonicalpatient",
            survivor_id=str(CanonicalPatientFactory.build().pk),
            duplicate_id=str(CanonicalPatientFactory.build().pk),
            actor=user,
            reason="bulk",
            summary={"enrollments": 1},
        )
        for _ in range(n)
    )


MAKERS = {
    "merge-requests": ("crm_supervisor_user", "/merge-requests/", _merge_requests),
    "cm/merges": ("cm_supervisor_user", "/cm/merges/", _cm_merges),
}


def test_every_api_list_has_a_query_count_test():
    covered = (
        {_key(url) for url, _ in NAVIGATION_LISTS.values()}
        | {_cm_key(name) for name in CM_LISTS}
        | set(ELSEWHERE)
        | set(MAKERS)
        | {"cm/canonical-patients/{id}/duplicates"}  # below
    )
    assert api_lists() - covered == set(), "API lists with no 1-vs-50-rows query count test"
    assert covered - api_lists() == set(), "query count tests of API lists that no longer exist"


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_list_queries_are_the_same_at_1_and_50_rows(request, name):
    role, url, add = MAKERS[name]
    user = request.getfixturevalue(role)
    client = client_for(user)

    def measure(rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}{url}", {"page_size": 50})
        assert response.status_code == 200, response.content[:300]
        assert len(response.json()["results"]) == rows
        return len(queries)

    client.get(f"{API}{url}")  # the first request of a login reads its groups and permissions once
    add(1, user)
    one = measure(1)
    add(49, user)
    assert measure(50) == one


def test_a_canonical_patients_candidates_cost_the_same_queries_for_1_and_10(cm_supervisor_user):
    me = CanonicalPatientFactory(first_name="Maja", last_name="Sorensen")
    client = client_for(cm_supervisor_user)
    url = f"{API}/cm/canonical-patients/{me.pk}/duplicates/"

    def twin() -> None:
        # Born the same day, one letter more in the first name (one identity per name and birth date).
        n = CanonicalPatient.objects.count()
        CanonicalPatientFactory(
            first_name=f"Maja{'abcdefghijk'[n]}", last_name="Sorensen", date_of_birth=me.date_of_birth
        )

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        return len(response.json()), len(queries)

    client.get(url)
    twin()
    rows_one, one = measure()
    for _ in range(9):
        twin()
    rows_ten, ten = measure()
    assert rows_one >= 1 and rows_ten >= 10 and rows_ten > rows_one
    assert ten == one
