"""/api/v1/cm/intakeq-match-candidates/: the matching's review queue over the API (CM supervisors)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cm_program.models import IntakeQLink, IntakeQMatchCandidate
from common import roles
from tests.cm_program.api_support import API, error, token_client
from tests.conftest import make_user
from tests.factories.cm_program import CanonicalPatientFactory, IntakeQLinkFactory, IntakeQPatientFactory

pytestmark = pytest.mark.django_db

URL = f"{API}/intakeq-match-candidates/"
COMPONENTS = {
    "name": 0.8,
    "first_name": 0.6,
    "last_name": 1.0,
    "same_name": False,
    "date_of_birth": "exact",
    "email": "missing",
    "phone": "missing",
}


def pair(score="0.79", band="probable", status="proposed", **sides) -> IntakeQMatchCandidate:
    canonical = sides.get("canonical") or CanonicalPatientFactory()
    client = sides.get("client") or IntakeQPatientFactory(
        first_name=canonical.first_name, last_name=canonical.last_name, date_of_birth=canonical.date_of_birth
    )
    return IntakeQMatchCandidate.objects.create(
        canonical_patient=canonical,
        intakeq_patient=client,
        score=Decimal(score),
        band=band,
        components=COMPONENTS,
        status=status,
    )


@pytest.fixture
def supervisor(db):
    return token_client(make_user("cmsup", roles.CM_SUPERVISORS))


def test_the_list_shows_pairs_best_first_with_both_sides_and_the_components(supervisor):
    low = pair("0.55", "possible")
    high = pair("0.79", "probable")
    response = supervisor.get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(high.pk), str(low.pk)]
    first = rows[0]
    assert first["score"] == 0.79 and first["band"] == "probable" and first["status"] == "proposed"
    assert first["components"] == COMPONENTS
    assert first["canonical_patient_detail"]["last_name"] == high.canonical_patient.last_name
    assert first["intakeq_patient_detail"]["intakeq_client_id"] == high.intakeq_patient.intakeq_client_id


def test_filters_by_band_and_status(supervisor):
    certain = pair("0.95", "certain")
    probable = pair("0.70", "probable")
    pair("0.50", "possible", status="rejected")
    body = supervisor.get(URL, {"band": ["certain", "probable"], "status": "proposed"}).json()
    assert {row["id"] for row in body["results"]} == {str(certain.pk), str(probable.pk)}
    assert supervisor.get(URL, {"status": "rejected"}).json()["results"][0]["band"] == "possible"


def test_a_bad_filter_value_is_a_400_naming_the_parameter(supervisor):
    response = supervisor.get(URL, {"band": "sure"})
    assert response.status_code == 400
    body = error(response)
    assert "band" in str(body)


def test_accept_links_the_pair_keeping_its_score(supervisor):
    candidate = pair("0.79")
    response = supervisor.post(f"{URL}{candidate.pk}/accept/", {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "linked" and body["decided_by_username"] == "cmsup"
    link = IntakeQLink.objects.get()
    assert (link.canonical_patient_id, link.intakeq_patient_id, link.confidence_score) == (
        candidate.canonical_patient_id,
        candidate.intakeq_patient_id,
        Decimal("0.79"),
    )
    assert link.linked_by.username == "cmsup"
    # Deciding again is a conflict naming the pair.
    again = supervisor.post(f"{URL}{candidate.pk}/accept/", {}, format="json")
    assert again.status_code == 409
    assert error(again)["message"] == "This pair was already decided (linked)."


def test_accept_when_a_side_is_linked_elsewhere_is_a_409_with_the_existing_link(supervisor):
    canonical = CanonicalPatientFactory(date_of_birth=dt.date(1980, 1, 1))
    existing = IntakeQLinkFactory(canonical_patient=canonical)
    candidate = pair("0.90", "certain", canonical=canonical)
    response = supervisor.post(f"{URL}{candidate.pk}/accept/")
    assert response.status_code == 409
    body = error(response)
    assert body["existing_id"] == str(existing.pk) and "canonical_patient" in body["fields"]
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


def test_reject_sticks_and_a_linked_pair_cannot_be_rejected(supervisor):
    candidate = pair("0.70")
    response = supervisor.post(f"{URL}{candidate.pk}/reject/")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).decided_by.username == "cmsup"
    linked = pair("0.95", "certain", status="linked")
    refused = supervisor.post(f"{URL}{linked.pk}/reject/")
    assert refused.status_code == 409 and "status" in error(refused)["fields"]


def test_a_decision_takes_no_fields(supervisor):
    candidate = pair()
    response = supervisor.post(f"{URL}{candidate.pk}/reject/", {"reason": "twins"}, format="json")
    assert response.status_code == 400
    assert "reason" in str(error(response))
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


@pytest.mark.parametrize("role", [roles.CPSS, roles.PATIENT_NAVIGATORS, roles.CRM_SUPERVISORS])
def test_only_cm_supervisors_work_the_queue(role):
    candidate = pair()
    client = token_client(make_user("someone", role))
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}{candidate.pk}/accept/").status_code == 403
    assert token_client(None).get(URL).status_code == 401
    assert IntakeQMatchCandidate.objects.get(pk=candidate.pk).status == "proposed"


def test_an_unknown_or_malformed_id_is_a_404(supervisor):
    assert supervisor.post(f"{URL}00000000-0000-0000-0000-000000000000/accept/").status_code == 404
    assert supervisor.get(f"{URL}not-a-uuid/").status_code == 404


def test_list_query_count_is_the_same_for_1_and_50_rows(supervisor):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = supervisor.get(URL, {"status": "proposed"})
        assert response.status_code == 200
        return len(captured)

    pair()
    one = queries()
    for _ in range(49):
        pair()
    assert queries() == one
