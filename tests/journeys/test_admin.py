"""Journey admin: pages load; opening and moving a journey go through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.services import journey_open
from tests.admin_smoke import admin_url, smoke
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_ct_journey_admin_pages(admin_client):
    smoke(admin_client, ClinicalTrialJourneyFactory(trial_id="NCT05550001"), search="NCT05550001")


def test_eap_journey_admin_pages(admin_client):
    smoke(admin_client, EAPJourneyFactory(eap_number="EAP-4242"), search="EAP-4242")


def test_timeline_admin_pages(admin_client):
    step = JourneyStatusChangeFactory(
        ct_journey=ClinicalTrialJourneyFactory(patient=PatientFactory(person=PersonFactory(last_name="Vasquez")))
    )
    smoke(admin_client, step, search="vasquez")
    assert admin_client.get(admin_url(JourneyStatusChange, "add")).status_code == 403


def test_open_ct_journey_from_the_admin(admin_client, superuser):
    patient = PatientFactory()
    response = admin_client.post(
        admin_url(ClinicalTrialJourney, "add"),
        {
            "patient": str(patient.pk),
            "trial_id": "nct01112222",
            "trial_name": "",
            "referral_date": timezone.localdate().isoformat(),
            "opening_note": "Referred after the consult",
            "notes": "",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    journey = ClinicalTrialJourney.objects.get()
    assert (journey.trial_id, journey.status) == ("NCT01112222", "referred")
    step = journey.status_changes.get()
    assert (step.to_status, step.changed_by, step.note) == ("referred", superuser, "Referred after the consult")


def test_bad_nct_id_is_a_form_error(admin_client):
    response = admin_client.post(
        admin_url(ClinicalTrialJourney, "add"),
        {"patient": str(PatientFactory().pk), "trial_id": "NCT12", "referral_date": timezone.localdate().isoformat()},
    )
    assert response.status_code == 200
    assert "NCT followed by 8 digits" in str(response.context["adminform"].form.errors["trial_id"])
    assert not ClinicalTrialJourney.all_objects.exists()


def _move_url(journey, to_status: str) -> str:
    return reverse(f"admin:journeys_{journey._meta.model_name}_move", args=[journey.pk, to_status])


def test_journey_page_offers_one_button_per_allowed_move(admin_client):
    journey = journey_open(patient=PatientFactory(), kind="clinical_trial", trial_id="NCT01112222")
    body = admin_client.get(admin_url(ClinicalTrialJourney, "change", journey.pk)).content.decode()
    for status, label in [
        ("pre_screening", "Pre-screening"),
        ("ineligible", "Ineligible"),
        ("declined", "Declined"),
        ("withdrawn", "Withdrawn"),
    ]:
        assert f'href="{_move_url(journey, status)}"' in body and f"Move to {label}" in body
    assert "Move to Screening" not in body and "Move to Enrolled" not in body


def test_moving_a_journey_asks_for_a_note_and_records_the_step(admin_client, superuser):
    journey = journey_open(patient=PatientFactory(), kind="clinical_trial", trial_id="NCT01112222")
    url = _move_url(journey, "pre_screening")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "Referred" in response.content.decode() and 'name="note"' in response.content.decode()

    response = admin_client.post(url, {"note": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors["note"] == ["This field is required."]
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).status == "referred"

    response = admin_client.post(url, {"note": "Records requested from the oncologist"})
    assert response.status_code == 302 and response.url == admin_url(ClinicalTrialJourney, "change", journey.pk)
    journey.refresh_from_db()
    assert journey.status == "pre_screening"
    step = journey.status_changes.order_by("changed_at").last()
    assert (step.from_status, step.to_status, step.changed_by, step.note) == (
        "referred",
        "pre_screening",
        superuser,
        "Records requested from the oncologist",
    )
    page = admin_client.get(response.url).content.decode()
    assert "Moved to Pre-screening." in page
    assert "Records requested from the oncologist" in page  # the timeline on the journey page
    assert "Move to Screening" in page and "Move to Pre-screening" not in page


def test_a_move_the_journey_does_not_allow_is_refused_with_the_reason(admin_client):
    journey = journey_open(patient=PatientFactory(), kind="clinical_trial", trial_id="NCT01112222")
    response = admin_client.post(_move_url(journey, "completed"), {"note": "skip ahead"}, follow=True)
    assert response.status_code == 200
    assert "This journey is referred; it cannot move to Completed." in response.content.decode()
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).status == "referred"
    assert admin_client.get(_move_url(journey, "no-such-status")).status_code == 404


def test_ineligible_needs_its_reason(admin_client):
    journey = journey_open(patient=PatientFactory(), kind="clinical_trial", trial_id="NCT01112222")
    url = _move_url(journey, "ineligible")
    response = admin_client.post(url, {"note": "Screened"})
    assert response.status_code == 200
    assert response.context["form"].errors["ineligible_reason"] == ["This field is required."]
    response = admin_client.post(url, {"note": "Screened", "ineligible_reason": "Prior therapy excludes"})
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.status, journey.eligible, journey.ineligible_reason) == (
        "ineligible",
        "no",
        "Prior therapy excludes",
    )
    body = admin_client.get(admin_url(ClinicalTrialJourney, "change", journey.pk)).content.decode()
    assert "is a final status" in body and "Move to" not in body


def test_eap_correction_move_and_soft_delete(admin_client):
    journey = journey_open(patient=PatientFactory(), kind="eap", product="Compound X")
    response = admin_client.post(
        admin_url(EAPJourney, "change", journey.pk),
        {
            "product": "Compound X",
            "eap_number": "EAP-1",
            "notes": "",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    response = admin_client.post(_move_url(journey, "submitted"), {"note": "Sent to the manufacturer"})
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.status, journey.eap_number) == ("submitted", "EAP-1")
    response = admin_client.post(
        admin_url(EAPJourney, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [journey.pk], "confirm": "yes", "reason": "duplicate"},
    )
    assert response.status_code == 302
    assert not EAPJourney.objects.filter(pk=journey.pk).exists()
    # A deleted journey does not move.
    response = admin_client.post(_move_url(journey, "approved"), {"note": "x"}, follow=True)
    assert "it cannot move to Approved" in response.content.decode()
    assert EAPJourney.all_objects.get(pk=journey.pk).status == "submitted"


def test_navigators_move_journeys_and_cm_staff_cannot(client, navigator_user, cpss_user):
    journey = journey_open(patient=PatientFactory(), kind="eap", product="Compound X")
    client.force_login(cpss_user)
    assert client.get(_move_url(journey, "submitted")).status_code == 403
    assert client.post(_move_url(journey, "submitted"), {"note": "x"}).status_code == 403
    client.force_login(navigator_user)
    assert client.post(_move_url(journey, "submitted"), {"note": "Dossier sent"}).status_code == 302
    assert EAPJourney.objects.get(pk=journey.pk).status == "submitted"


def test_navigator_cannot_delete_journeys(client, navigator_user):
    journey = ClinicalTrialJourneyFactory()
    client.force_login(navigator_user)
    page = client.get(admin_url(ClinicalTrialJourney, "changelist")).content.decode()
    assert journey.trial_id in page and "soft_delete_selected" not in page
