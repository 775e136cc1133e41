"""The journey tables refuse bad rows by themselves (plain SQL, no Python check in the way)."""

from __future__ import annotations

import datetime as dt

import pytest

from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.transitions import CT_TRANSITIONS, EAP_TRANSITIONS, CTStatus, EAPStatus, allowed_next_statuses
from tests.db import assert_refused, raw_insert
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import PatientFactory

pytestmark = pytest.mark.django_db

D = dt.date(2025, 1, 10)


def _ct(**overrides):
    values = {
        "patient_id": PatientFactory().pk,
        "trial_id": "NCT01234567",
        "referral_date": D,
        "status": "referred",
        "eligible": "unknown",
        **overrides,
    }
    return raw_insert(ClinicalTrialJourney, **values)


def _eap(**overrides):
    values = {"patient_id": PatientFactory().pk, "product": "Compound X", "status": "pending", **overrides}
    return raw_insert(EAPJourney, **values)


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "abandoned"}, "clinical_trial_journey_status_valid"),
        ({"eligible": "perhaps"}, "clinical_trial_journey_eligible_valid"),
        ({"eligible": "no", "ineligible_reason": ""}, "clinical_trial_journey_ineligible_has_reason"),
        ({"eligible": "no", "ineligible_reason": "   "}, "clinical_trial_journey_ineligible_has_reason"),
        ({"status": "ineligible", "eligible": "unknown"}, "clinical_trial_journey_ineligible_status_matches"),
        ({"trial_id": "NCT123"}, "clinical_trial_journey_nct_format"),
        ({"trial_id": "nct01234567"}, "clinical_trial_journey_nct_format"),
        ({"trial_id": "NCT012345678"}, "clinical_trial_journey_nct_format"),
        ({"trial_id": "", "trial_name": ""}, "clinical_trial_journey_names_trial"),
        ({"enrollment_date": D - dt.timedelta(days=1)}, "clinical_trial_journey_dates_in_order"),
        (
            {"enrollment_date": D + dt.timedelta(days=5), "completion_date": D + dt.timedelta(days=4)},
            "clinical_trial_journey_dates_in_order",
        ),
        ({"completion_date": D - dt.timedelta(days=1)}, "clinical_trial_journey_dates_in_order"),
        ({"eligibility_assessment_date": D - dt.timedelta(days=1)}, "clinical_trial_journey_dates_in_order"),
        ({"status": "enrolled"}, "clinical_trial_journey_enrolled_has_date"),
        ({"status": "completed", "enrollment_date": D}, "clinical_trial_journey_completed_has_date"),
        ({"is_active": False}, "clinical_trial_journey_deletion_has_reason"),
    ],
)
def test_clinical_trial_journey_refuses(overrides, constraint):
    assert_refused(constraint, _ct, **overrides)


def test_clinical_trial_journey_accepts_other_registries_and_complete_rows():
    _ct(trial_id="EUCTR2020-001234-56")
    _ct(trial_id="", trial_name="An unregistered study")
    _ct(eligible="no", ineligible_reason="Too old for the protocol", status="ineligible")
    _ct(status="completed", enrollment_date=D, completion_date=D + dt.timedelta(days=90))
    assert ClinicalTrialJourney.objects.count() == 4


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "lost"}, "eap_journey_status_valid"),
        ({"product": ""}, "eap_journey_product_not_blank"),
        ({"approval_date": D, "enrollment_date": D - dt.timedelta(days=1)}, "eap_journey_dates_in_order"),
        (
            {"approval_date": D, "enrollment_date": D, "completion_date": D - dt.timedelta(days=1)},
            "eap_journey_dates_in_order",
        ),
        ({"status": "approved"}, "eap_journey_approved_has_date"),
        ({"status": "active", "approval_date": D}, "eap_journey_active_has_date"),
        ({"status": "completed", "approval_date": D, "enrollment_date": D}, "eap_journey_completed_has_date"),
    ],
)
def test_eap_journey_refuses(overrides, constraint):
    assert_refused(constraint, _eap, **overrides)


def test_eap_dossier_numbers_are_unique_ignoring_case():
    _eap(eap_number="EAP-001")
    assert_refused("eap_journey_eap_number_ci_uniq", _eap, eap_number="eap-001")
    _eap(eap_number="")
    _eap(eap_number="")  # no number yet is not a duplicate


def test_timeline_rows_belong_to_exactly_one_journey_and_use_its_statuses():
    ct, eap = ClinicalTrialJourneyFactory(), EAPJourneyFactory()
    assert_refused("journey_status_change_one_journey", raw_insert, JourneyStatusChange, to_status="referred")
    assert_refused(
        "journey_status_change_one_journey",
        raw_insert,
        JourneyStatusChange,
        ct_journey_id=ct.pk,
        eap_journey_id=eap.pk,
        to_status="referred",
    )
    assert_refused(
        "journey_status_change_statuses_valid",
        raw_insert,
        JourneyStatusChange,
        ct_journey_id=ct.pk,
        to_status="approved",  # an EAP status
    )
    raw_insert(JourneyStatusChange, ct_journey_id=ct.pk, from_status="", to_status="referred")
    raw_insert(JourneyStatusChange, eap_journey_id=eap.pk, from_status="pending", to_status="submitted")


def test_transition_maps_cover_every_status_and_end_in_final_ones():
    assert set(CT_TRANSITIONS) == set(CTStatus.values)
    assert set(EAP_TRANSITIONS) == set(EAPStatus.values)
    for table in (CT_TRANSITIONS, EAP_TRANSITIONS):
        for targets in table.values():
            assert set(targets) <= set(table)
    assert allowed_next_statuses(ClinicalTrialJourneyFactory.build(status="screening")) == (
        "enrolled",
        "ineligible",
        "declined",
        "withdrawn",
    )
    assert allowed_next_statuses(EAPJourneyFactory.build(status="completed")) == ()
