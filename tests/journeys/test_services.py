"""Journey services: opening, allowed transitions with their timeline, corrections, soft delete."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from common.audit import record_history
from common.errors import ConflictError
from journeys import services
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.selectors import journey_history, journey_timeline, patient_journeys
from tests.factories.patients import PatientFactory, PhysicianFactory
from tests.relative_dates import FromToday, resolve

pytestmark = pytest.mark.django_db


def open_ct(patient=None, **kwargs):
    values = {"trial_id": "NCT04512345", "trial_name": "DMD gene therapy", **kwargs}
    return services.journey_open(patient=patient or PatientFactory(), kind="clinical_trial", **values)


def test_open_ct_journey_starts_its_timeline(navigator_user):
    patient = PatientFactory()
    physician = PhysicianFactory()
    journey = services.journey_open(
        patient=patient,
        kind="clinical_trial",
        trial_id=" nct04512345 ",
        referring_physician=physician,
        note="Referred by Dr. House",
        actor=navigator_user,
    )
    assert (journey.status, journey.trial_id, journey.referral_date) == (
        "referred",
        "NCT04512345",
        timezone.localdate(),
    )
    steps = list(journey_timeline(journey=journey))
    assert [(s.from_status, s.to_status, s.changed_by, s.note) for s in steps] == [
        ("", "referred", navigator_user, "Referred by Dr. House")
    ]


def test_a_patient_has_many_journeys_each_with_its_own_status():
    patient = PatientFactory()
    first = open_ct(patient)
    second = open_ct(patient, trial_id="NCT09999999")
    eap = services.journey_open(patient=patient, kind="eap", product="Compound X", eap_number="EAP-1")
    services.journey_transition(journey=first, to_status="pre_screening")
    journeys = patient_journeys(patient=patient)
    assert {j.pk: j.status for j in journeys.clinical_trials} == {first.pk: "pre_screening", second.pk: "referred"}
    assert [j.pk for j in journeys.eap] == [eap.pk]
    assert [len(j.status_changes.all()) for j in journeys.clinical_trials if j.pk == first.pk] == [2]


def test_ct_happy_path_records_each_step_and_fills_dates(navigator_user, crm_supervisor_user):
    journey = open_ct(referral_date=timezone.localdate() - dt.timedelta(days=30))
    for status in ("pre_screening", "screening", "enrolled"):
        journey = services.journey_transition(
            journey=journey, to_status=status, note=f"to {status}", actor=navigator_user
        )
    assert journey.enrollment_date == timezone.localdate() and journey.eligible == "yes"
    journey = services.journey_transition(
        journey=journey, to_status="completed", outcome="Completed per protocol", actor=crm_supervisor_user
    )
    stored = ClinicalTrialJourney.objects.get(pk=journey.pk)
    assert (stored.status, stored.completion_date, stored.outcome) == (
        "completed",
        timezone.localdate(),
        "Completed per protocol",
    )
    steps = [(s.from_status, s.to_status, s.changed_by.username, s.note) for s in journey_timeline(journey=stored)[1:]]
    assert steps == [
        ("referred", "pre_screening", "nav", "to pre_screening"),
        ("pre_screening", "screening", "nav", "to screening"),
        ("screening", "enrolled", "nav", "to enrolled"),
        ("enrolled", "completed", "crmsup", ""),
    ]
    history = journey_history(journey=stored)
    assert [e.changes.get("status") for e in history[1:]] == [
        ["referred", "pre_screening"],
        ["pre_screening", "screening"],
        ["screening", "enrolled"],
        ["enrolled", "completed"],
    ]


def test_a_refused_transition_names_the_allowed_ones_and_writes_nothing():
    journey = open_ct()
    before = (JourneyStatusChange.objects.count(), len(record_history(journey)))
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(journey=journey, to_status="enrolled")
    assert caught.value.message_dict == {
        "status": [
            "Cannot move from 'referred' to 'enrolled'. Allowed: pre_screening, ineligible, declined, withdrawn."
        ]
    }
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).status == "referred"
    assert (JourneyStatusChange.objects.count(), len(record_history(journey))) == before


def test_final_statuses_allow_nothing():
    journey = open_ct()
    services.journey_transition(journey=journey, to_status="declined", note="Prefers to stay home")
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(journey=journey, to_status="pre_screening")
    assert "Allowed: none ('declined' is final)" in caught.value.message_dict["status"][0]


def test_ineligible_needs_a_reason():
    journey = open_ct()
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(journey=journey, to_status="ineligible")
    assert list(caught.value.message_dict) == ["ineligible_reason"]
    stored = services.journey_transition(
        journey=journey, to_status="ineligible", ineligible_reason="Prior gene therapy excluded"
    )
    assert (stored.eligible, stored.ineligible_reason, stored.eligibility_assessment_date) == (
        "no",
        "Prior gene therapy excluded",
        timezone.localdate(),
    )


def test_transition_dates_stay_in_order():
    journey = open_ct(referral_date=timezone.localdate())
    services.journey_transition(journey=journey, to_status="pre_screening")
    services.journey_transition(journey=journey, to_status="screening")
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(journey=journey, to_status="enrolled", at=timezone.now() - dt.timedelta(days=2))
    assert "at" in caught.value.message_dict  # before the previous step of the timeline
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).status == "screening"


def test_eap_path_fills_its_dates():
    journey = services.journey_open(patient=PatientFactory(), kind="eap", product="Compound X", eap_number="EAP-77")
    for status in ("submitted", "approved", "active", "completed"):
        journey = services.journey_transition(journey=journey, to_status=status)
    today = timezone.localdate()
    stored = EAPJourney.objects.get(pk=journey.pk)
    assert (stored.approval_date, stored.enrollment_date, stored.completion_date) == (today, today, today)
    assert [s.to_status for s in journey_timeline(journey=stored)] == [
        "pending",
        "submitted",
        "approved",
        "active",
        "completed",
    ]
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(
            journey=services.journey_open(patient=PatientFactory(), kind="eap", product="Y"), to_status="active"
        )
    assert "Allowed: submitted, declined, withdrawn." in caught.value.message_dict["status"][0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "clinical_trial", "trial_id": "NCT123"}, "trial_id"),
        ({"kind": "clinical_trial", "trial_id": "nct0123456789"}, "trial_id"),
        ({"kind": "clinical_trial", "trial_id": "", "trial_name": ""}, "trial_id"),
        ({"kind": "clinical_trial", "trial_id": "NCT01234567", "product": "x"}, "kind"),
        (
            {
                "kind": "clinical_trial",
                "trial_id": "NCT01234567",
                "referral_date": FromToday(days=1),
            },
            "referral_date",
        ),
        ({"kind": "eap", "product": ""}, "product"),
        ({"kind": "spaceflight"}, "kind"),
    ],
)
def test_journey_open_bad_input_writes_nothing(kwargs, field):
    patient = PatientFactory()
    with pytest.raises(ValidationError) as caught:
        services.journey_open(patient=patient, **resolve(kwargs))
    assert field in caught.value.message_dict
    assert not ClinicalTrialJourney.all_objects.exists() and not EAPJourney.all_objects.exists()
    assert not JourneyStatusChange.objects.exists()


def test_other_registries_trial_ids_are_accepted_as_given():
    assert open_ct(trial_id="EUCTR2021-000123-45").trial_id == "EUCTR2021-000123-45"


def test_eap_dossier_number_clash_is_a_conflict():
    first = services.journey_open(patient=PatientFactory(), kind="eap", product="X", eap_number="EAP-9")
    with pytest.raises(ConflictError) as caught:
        services.journey_open(patient=PatientFactory(), kind="eap", product="X", eap_number="eap-9")
    assert caught.value.existing_id == first.pk


def test_no_journey_for_a_deceased_patient():
    with pytest.raises(ValidationError) as caught:
        open_ct(PatientFactory(status="deceased"))
    assert caught.value.message_dict == {"patient": ["This patient is deceased."]}


def test_journey_update_validates_and_keeps_history(navigator_user):
    journey = open_ct()
    with pytest.raises(ValidationError) as caught:
        services.journey_update(journey=journey, data={"trial_id": "NCT1", "eligible": "no"})
    assert set(caught.value.message_dict) == {"trial_id", "ineligible_reason"}
    services.journey_update(journey=journey, data={"notes": "Travel support needed"}, actor=navigator_user)
    last = record_history(journey)[-1]
    assert last.changes["notes"] == ["", "Travel support needed"] and last.username == "nav"


def test_journey_soft_delete_and_restore(crm_supervisor_user):
    journey = open_ct()
    services.journey_soft_delete(journey=journey, reason="opened on the wrong patient", actor=crm_supervisor_user)
    assert not ClinicalTrialJourney.objects.filter(pk=journey.pk).exists()
    with pytest.raises(ValidationError) as caught:
        services.journey_transition(journey=journey, to_status="pre_screening")
    assert "journey" in caught.value.message_dict
    services.journey_restore(journey=journey, actor=crm_supervisor_user)
    assert ClinicalTrialJourney.objects.get(pk=journey.pk).deletion_reason == ""
