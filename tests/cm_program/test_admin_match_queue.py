"""The IntakeQ match queue in the admin: CM supervisors compare a pair side by side and decide."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cm_program.models import IntakeQLink, IntakeQMatchCandidate
from common import roles
from tests.admin_smoke import admin_url, smoke
from tests.cm_program.test_api_match_candidates import pair
from tests.conftest import make_user
from tests.factories.cm_program import CanonicalPatientFactory, IntakeQLinkFactory

pytestmark = pytest.mark.django_db


def login(role: str | None = roles.CM_SUPERVISORS, *, superuser: bool = False) -> Client:
    client = Client()
    client.force_login(make_user("reviewer", role, superuser=superuser))
    return client


def test_smoke_changelist_search_and_compare_page():
    candidate = pair()
    smoke(login(superuser=True), candidate, search=candidate.intakeq_patient.last_name)


def test_the_compare_page_shows_both_sides_and_the_reasons():
    candidate = pair("0.79")
    iq = candidate.intakeq_patient
    iq.email, iq.phone = "iq@x.org", "(801) 555-0101"
    iq.save()
    response = login().get(admin_url(IntakeQMatchCandidate, "change", candidate.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert candidate.canonical_patient.last_name in page and "iq@x.org" in page and "(801) 555-0101" in page
    assert "Score <strong>0.79</strong> (Probable)" in page
    assert 'value="link"' in page and 'value="reject"' in page


def test_link_keeps_the_confidence_and_returns_to_the_queue():
    candidate = pair("0.79")
    response = login().post(admin_url(IntakeQMatchCandidate, "change", candidate.pk), {"decision": "link"})
    assert response.status_code == 302 and response.url.endswith("?status__exact=proposed")
    link = IntakeQLink.objects.get()
    assert link.confidence_score == Decimal("0.79") and link.linked_by.username == "reviewer"
    candidate.refresh_from_db()
    assert candidate.status == "linked" and candidate.decided_by.username == "reviewer"


def test_not_the_same_person_sticks_and_hides_the_buttons():
    candidate = pair()
    client = login()
    client.post(admin_url(IntakeQMatchCandidate, "change", candidate.pk), {"decision": "reject"})
    candidate.refresh_from_db()
    assert candidate.status == "rejected"
    page = client.get(admin_url(IntakeQMatchCandidate, "change", candidate.pk)).content.decode()
    assert 'value="link"' not in page


def test_a_refused_link_is_explained_and_changes_nothing():
    canonical = CanonicalPatientFactory()
    IntakeQLinkFactory(canonical_patient=canonical)
    candidate = pair("0.92", "certain", canonical=canonical)
    client = login()
    page = client.get(admin_url(IntakeQMatchCandidate, "change", candidate.pk)).content.decode()
    assert "already linked to IntakeQ client" in page
    response = client.post(admin_url(IntakeQMatchCandidate, "change", candidate.pk), {"decision": "link"}, follow=True)
    assert "Not done:" in response.content.decode() and "already linked" in response.content.decode()
    assert IntakeQLink.objects.count() == 1
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


def test_an_unknown_decision_is_refused():
    candidate = pair()
    response = login().post(
        admin_url(IntakeQMatchCandidate, "change", candidate.pk), {"decision": "maybe"}, follow=True
    )
    assert "Choose Link or Not the same person." in response.content.decode()
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


@pytest.mark.parametrize("role", [roles.CPSS, roles.PATIENT_NAVIGATORS, roles.CRM_SUPERVISORS])
def test_others_cannot_open_or_decide(role):
    candidate = pair()
    client = login(role)
    assert client.get(admin_url(IntakeQMatchCandidate, "changelist")).status_code == 403
    response = client.post(admin_url(IntakeQMatchCandidate, "change", candidate.pk), {"decision": "reject"})
    assert response.status_code in (403, 404)
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


def test_changelist_queries_do_not_grow_from_1_to_50_rows():
    client = login()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                client.get(admin_url(IntakeQMatchCandidate, "changelist"), {"status__exact": "proposed"}).status_code
                == 200
            )
        return len(captured)

    pair()
    one = queries()
    for _ in range(49):
        pair()
    assert queries() == one
