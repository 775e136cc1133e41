"""Clinical-trial and EAP journeys through the API: open, correct, transition, timeline, soft delete."""

from __future__ import annotations

import pytest
from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from patients.models import PatientStatus
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import PatientFactory, PhysicianFactory
from tests.navigation_api import API, assert_error, client_for, ids, results, written_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def nav(navigator_user):
    return client_for(navigator_user)


@pytest.fixture
def sup(crm_supervisor_user):
    return client_for(crm_supervisor_user)


def test_open_a_ct_journey_move_it_and_read_its_timeline(nav):
    patient = PatientFactory()
    physician = PhysicianFactory()
    opened = nav.post(
        f"{API}/ct-journeys",
        {
            "patient": str(patient.pk),
            "referring_physician": str(physician.pk),
            "trial_id": "nct01234567",
            "trial_name": "Phase II",
            "note": "Referred by Dr. X",
        },
        format="json",
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["trial_id"], body["status"], body["eligible"], body["referral_date"]) == (
        "NCT01234567",
        "referred",
        "unknown",
        timezone.localdate().isoformat(),
    )
    assert body["allowed_next_statuses"] == ["pre_screening", "ineligible", "declined", "withdrawn"]
    assert body["referring_physician"] == str(physician.pk) and body["patient_name"] == patient.person.full_name
    url = f"{API}/ct-journeys/{body['id']}"
    for status in ("pre_screening", "screening", "enrolled"):
        moved = nav.post(f"{url}/transition", {"status": status, "note": f"now {status}"}, format="json")
        assert moved.status_code == 200, moved.content
    assert moved.json()["status"] == "enrolled" and moved.json()["enrollment_date"] == timezone.localdate().isoformat()
    assert moved.json()["eligible"] == "yes" and moved.json()["allowed_next_statuses"] == ["completed", "withdrawn"]
    steps = results(nav.get(f"{url}/timeline/"))
    assert [(s["from_status"], s["to_status"], s["note"], s["changed_by_username"]) for s in steps] == [
        ("", "referred", "Referred by Dr. X", "nav"),
        ("referred", "pre_screening", "now pre_screening", "nav"),
        ("pre_screening", "screening", "now screening", "nav"),
        ("screening", "enrolled", "now enrolled", "nav"),
    ]


def test_a_refused_transition_is_400_naming_the_allowed_statuses(nav):
    journey = ClinicalTrialJourneyFactory()
    before = written_rows()
    response = nav.post(f"{API}/ct-journeys/{journey.pk}/transition/", {"status": "completed"}, format="json")
    error = assert_error(response, 400, "invalid", fields=("status",))
    assert error["fields"]["status"] == [
        "Cannot move from 'referred' to 'completed'. Allowed: pre_screening, ineligible, declined, withdrawn."
    ]
    assert written_rows() == before
    assert_error(
        nav.post(f"{API}/ct-journeys/{journey.pk}/transition/", {"status": "flying"}, format="json"),
        400,
        "invalid",
        fields=("status",),
    )
    no_reason = nav.post(f"{API}/ct-journeys/{journey.pk}/transition/", {"status": "ineligible"}, format="json")
    assert_error(no_reason, 400, "invalid", fields=("ineligible_reason",))
    with_reason = nav.post(
        f"{API}/ct-journeys/{journey.pk}/transition/",
        {"status": "ineligible", "ineligible_reason": "Too old"},
        format="json",
    )
    assert with_reason.status_code == 200 and with_reason.json()["eligible"] == "no"
    assert with_reason.json()["allowed_next_statuses"] == []


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"trial_id": "NCT123"}, "trial_id"),
        ({"trial_id": "", "trial_name": ""}, "trial_id"),
        ({"patient": "00000000-0000-0000-0000-000000000000"}, "patient"),
        ({"referral_date": "2999-01-01"}, "referral_date"),
        ({"trial_name": "x" * 301}, "trial_name"),
        ({"status": "enrolled"}, "status"),
    ],
)
def test_bad_ct_journeys_are_400(nav, overrides, field):
    patient = PatientFactory()
    before = written_rows()
    response = nav.post(
        f"{API}/ct-journeys/", {"patient": str(patient.pk), "trial_id": "NCT01234567", **overrides}, format="json"
    )
    assert_error(response, 400, "invalid", fields=(field,))
    assert written_rows() == before


def test_a_deceased_patient_gets_no_journey(nav):
    patient = PatientFactory(status=PatientStatus.DECEASED)
    response = nav.post(f"{API}/eap-journeys/", {"patient": str(patient.pk), "product": "X"}, format="json")
    assert_error(response, 400, "invalid", fields=("patient",))


def test_correct_a_journey_but_not_its_status(nav):
    journey = ClinicalTrialJourneyFactory(notes="")
    url = f"{API}/ct-journeys/{journey.pk}/"
    patched = nav.patch(url, {"notes": "Site contacted.", "trial_name": "Renamed study"}, format="json")
    assert patched.status_code == 200 and patched.json()["notes"] == "Site contacted."
    body = patched.json()
    assert nav.put(url, body, format="json").status_code == 200  # the GET body sent back, status unchanged
    refused = nav.patch(url, {"status": "enrolled"}, format="json")
    assert assert_error(refused, 400, "invalid", fields=("status",))["fields"]["status"] == [
        "Change the status with POST .../{id}/transition/."
    ]
    assert_error(nav.patch(url, {"eligible": "no"}, format="json"), 400, "invalid", fields=("ineligible_reason",))
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).status == "referred"


def test_eap_journey_open_conflict_transition_and_soft_delete(nav, sup):
    patient = PatientFactory()
    opened = nav.post(
        f"{API}/eap-journeys/", {"patient": str(patient.pk), "product": "Drug X", "eap_number": "EAP-1"}, format="json"
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["status"], body["allowed_next_statuses"]) == ("pending", ["submitted", "declined", "withdrawn"])
    dup = nav.post(
        f"{API}/eap-journeys/", {"patient": str(patient.pk), "product": "Drug Y", "eap_number": "eap-1"}, format="json"
    )
    assert assert_error(dup, 409, "conflict", fields=("eap_number",))["existing_id"] == body["id"]
    url = f"{API}/eap-journeys/{body['id']}/"
    for status in ("submitted", "approved"):
        assert nav.post(f"{url}transition/", {"status": status}, format="json").status_code == 200
    assert nav.get(url).json()["approval_date"] == timezone.localdate().isoformat()
    assert_error(nav.delete(url), 403, "permission_denied")
    assert sup.delete(url, {"reason": "Opened twice"}, format="json").status_code == 204
    assert EAPJourney.all_objects.get(pk=body["id"]).deletion_reason == "Opened twice"
    assert body["id"] not in ids(sup.get(f"{API}/eap-journeys/"))
    refused = sup.post(f"{url}transition/", {"status": "active"}, format="json")
    assert_error(refused, 400, "invalid", fields=("journey",))
    assert sup.post(f"{url}restore/").json()["is_active"] is True
    assert JourneyStatusChange.objects.filter(eap_journey_id=body["id"]).count() == 3


def test_journey_filters(nav):
    a = ClinicalTrialJourneyFactory(trial_id="NCT11111111")
    b = ClinicalTrialJourneyFactory(status="pre_screening")
    assert ids(nav.get(f"{API}/ct-journeys/", {"patient": str(a.patient_id)})) == {str(a.pk)}
    assert ids(nav.get(f"{API}/ct-journeys/", {"status": "pre_screening"})) == {str(b.pk)}
    assert ids(nav.get(f"{API}/ct-journeys/", {"trial_id": "nct11111111"})) == {str(a.pk)}
    e = EAPJourneyFactory(eap_number="EAP-77")
    assert ids(nav.get(f"{API}/eap-journeys/", {"eap_number": "eap-77"})) == {str(e.pk)}
    assert_error(nav.get(f"{API}/ct-journeys/", {"status": "pending"}), 400, "invalid", fields=("status",))
    assert_error(nav.get(f"{API}/eap-journeys/", {"patient": "x"}), 400, "invalid", fields=("patient",))
