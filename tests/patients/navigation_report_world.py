"""A small known data set for the navigation report, in America/New_York, around the end of daylight saving
time (Sunday 2026-11-01, 02:00 EDT -> 01:00 EST). The report's period is 2026-10-19 (Mon) to 2026-11-08
(Sun): ISO weeks 2026-W43, W44 (ends on the DST change) and W45.

Calls (UTC -> local):
  c1  A pa1 outbound reached    10 min  10-19 04:30Z = 10-19 00:30 EDT  W43  reminder 10-22
  c2  A pa1 outbound voicemail   2 min  10-26 03:30Z = 10-25 23:30 EDT  W43 (W44 in UTC)  reminder 10-28
  c3  A pa2 inbound  reached    20 min  10-27 15:00Z                    W44  reminder 10-29
  c4  A pa2 outbound no answer  (none)  11-02 04:30Z = 11-01 23:30 EST  W44 (W45 in UTC, or at a fixed -4 h)
                                                                              reminder 11-01
  c5  A pa1 outbound reached    30 min  10-30 15:00Z  VOIDED            -    no reminder
  c6  B pb1 outbound reached     6 min  11-03 15:00Z                    W45  reminder 11-06
  c7  B pb1 outbound wrong no.   4 min  11-05 15:00Z                    W45  reminder 11-07
  c8  A pa1 outbound reached    10 min  10-19 03:30Z = 10-18 23:30 EDT  before the period (in it in UTC)
  c9  A pa1 outbound reached     8 min  11-04 15:00Z                    W45  reminder 11-20
  c10 A pa2 outbound reached     5 min  11-10 15:00Z                    after the period, no reminder
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney
from journeys.transitions import CTStatus, EAPStatus
from patients.follow_up import refresh_follow_up
from patients.models import CallDirection, CallHistory, CallOutcome, LeadStatus, Patient, PatientLead
from patients.reports import ReportPeriod
from people.models import Person
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory, PatientLeadFactory
from tests.factories.people import NavigatorFactory

TIME_ZONE = "America/New_York"
PERIOD = ReportPeriod(dt.date(2026, 10, 19), dt.date(2026, 11, 8))
OUT, IN = CallDirection.OUTBOUND, CallDirection.INBOUND


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@dataclass
class World:
    a: Person
    b: Person
    pa1: Patient
    pa2: Patient
    pa3: Patient
    pb1: Patient
    pu: Patient


def _call(patient, navigator, direction, outcome, minutes, at, reminder=None, **extra) -> CallHistory:
    return CallHistoryFactory(
        patient=patient,
        navigator=navigator,
        direction=direction,
        outcome=outcome,
        call_duration_minutes=minutes,
        call_date=at,
        reminder_date=reminder,
        **extra,
    )


def build() -> World:
    a = NavigatorFactory(first_name="Ana", last_name="Alvarez")
    b = NavigatorFactory(first_name="Ben", last_name="Brooks")
    d = dt.date
    pa1 = PatientFactory(navigator=a, first_contact_date=d(2026, 10, 1), initial_consult_date=d(2026, 10, 21))
    pa2 = PatientFactory(navigator=a, first_contact_date=d(2026, 10, 20), initial_consult_date=d(2026, 10, 30))
    pa3 = PatientFactory(navigator=a, first_contact_date=d(2026, 10, 25), initial_consult_date=d(2026, 10, 29))
    pb1 = PatientFactory(navigator=b, first_contact_date=d(2026, 11, 1), initial_consult_date=d(2026, 11, 4))
    pu = PatientFactory(navigator=None, first_contact_date=d(2026, 10, 1), initial_consult_date=d(2026, 11, 5))
    deleted = PatientFactory(navigator=b, first_contact_date=d(2026, 11, 1), initial_consult_date=d(2026, 11, 2))
    Patient.all_objects.filter(pk=deleted.pk).update(is_active=False, deletion_reason="Registered twice")
    # New patients: pa1 in W43; pa2 on Sunday 11-01 23:00 EST (W44; W45 in UTC); pb1 on Sunday 11-08 23:00 EST
    # (W45; after the period in UTC); pu (no navigator) in W45; the deleted one not at all; pa3 now (outside).
    for patient, at in (
        (pa1, utc(2026, 10, 20, 12)),
        (pa2, utc(2026, 11, 2, 4)),
        (pb1, utc(2026, 11, 9, 4)),
        (pu, utc(2026, 11, 4, 12)),
        (deleted, utc(2026, 11, 4, 12)),
    ):
        Patient.all_objects.filter(pk=patient.pk).update(created_at=at)

    _call(pa1, a, OUT, CallOutcome.REACHED, 10, utc(2026, 10, 19, 4, 30), d(2026, 10, 22))
    _call(pa1, a, OUT, CallOutcome.VOICEMAIL, 2, utc(2026, 10, 26, 3, 30), d(2026, 10, 28))
    _call(pa2, a, IN, CallOutcome.REACHED, 20, utc(2026, 10, 27, 15), d(2026, 10, 29))
    _call(pa2, a, OUT, CallOutcome.NO_ANSWER, None, utc(2026, 11, 2, 4, 30), d(2026, 11, 1))
    _call(
        pa1,
        a,
        OUT,
        CallOutcome.REACHED,
        30,
        utc(2026, 10, 30, 15),
        None,
        is_active=False,
        deleted_at=timezone.now(),
        deletion_reason="Logged on the wrong patient",
    )
    _call(pb1, b, OUT, CallOutcome.REACHED, 6, utc(2026, 11, 3, 15), d(2026, 11, 6))
    _call(pb1, b, OUT, CallOutcome.WRONG_NUMBER, 4, utc(2026, 11, 5, 15), d(2026, 11, 7))
    _call(pa1, a, OUT, CallOutcome.REACHED, 10, utc(2026, 10, 19, 3, 30))
    _call(pa1, a, OUT, CallOutcome.REACHED, 8, utc(2026, 11, 4, 15), d(2026, 11, 20))
    _call(pa2, a, OUT, CallOutcome.REACHED, 5, utc(2026, 11, 10, 15))
    refresh_follow_up()

    # Leads created in the period: L1 (-> pa1), L2 (-> pb1), L3 (open), L5 (-> pa2); L4 the evening before.
    def lead(person, at, patient=None):
        converted = {"status": LeadStatus.CONVERTED, "converted_patient": patient, "converted_at": at}
        made = PatientLeadFactory(person=person, **(converted if patient else {}))
        PatientLead.objects.filter(pk=made.pk).update(created_at=at)
        return made

    lead(pa1.person, utc(2026, 10, 20, 12), pa1)
    lead(pb1.person, utc(2026, 10, 21, 12), pb1)
    lead(_someone(), utc(2026, 10, 22, 12))
    lead(_someone(), utc(2026, 10, 19, 3))  # 10-18 23:00 EDT: before the period
    lead(pa2.person, utc(2026, 10, 23, 12), pa2)

    # CT journeys: pa1's opened after its lead and enrolled; pa2's withdrawn after enrolling; pb1's opened
    # before its lead, and a deleted one after it.
    ct1 = ClinicalTrialJourneyFactory(
        patient=pa1, referral_date=d(2026, 10, 25), status=CTStatus.ENROLLED, enrollment_date=d(2026, 10, 28)
    )
    ct2 = ClinicalTrialJourneyFactory(
        patient=pa2, referral_date=d(2026, 10, 26), status=CTStatus.WITHDRAWN, enrollment_date=d(2026, 10, 27)
    )
    ct3 = ClinicalTrialJourneyFactory(patient=pb1, referral_date=d(2026, 10, 1))
    ct4 = ClinicalTrialJourneyFactory(patient=pb1, referral_date=d(2026, 10, 25))
    for journey, at in ((ct1, utc(2026, 10, 24, 12)), (ct2, utc(2026, 10, 26, 12)), (ct3, utc(2026, 10, 1, 12))):
        ClinicalTrialJourney.all_objects.filter(pk=journey.pk).update(created_at=at)
    ClinicalTrialJourney.all_objects.filter(pk=ct4.pk).update(
        created_at=utc(2026, 10, 25, 12), is_active=False, deletion_reason="Opened by mistake"
    )

    # EAP journeys opened in the period: E1 pending, E2 approved, E3 declined after submission, E4 withdrawn
    # after approval; E5 opened before the period, E6 deleted.
    e1 = EAPJourneyFactory(patient=pa1)
    e2 = EAPJourneyFactory(patient=pa2, status=EAPStatus.APPROVED, approval_date=d(2026, 10, 30))
    e3 = EAPJourneyFactory(patient=pb1, status=EAPStatus.DECLINED)
    e4 = EAPJourneyFactory(patient=pb1, status=EAPStatus.WITHDRAWN)
    e5 = EAPJourneyFactory(patient=pa1, status=EAPStatus.SUBMITTED)
    e6 = EAPJourneyFactory(patient=pa2, status=EAPStatus.SUBMITTED)
    for journey, steps in ((e3, ["submitted"]), (e4, ["submitted", "approved"])):
        previous = "pending"
        for step in steps:
            JourneyStatusChangeFactory(ct_journey=None, eap_journey=journey, from_status=previous, to_status=step)
            previous = step
    for journey in (e1, e2, e3, e4):
        EAPJourney.all_objects.filter(pk=journey.pk).update(created_at=utc(2026, 10, 28, 12))
    EAPJourney.all_objects.filter(pk=e5.pk).update(created_at=utc(2026, 10, 10, 12))
    EAPJourney.all_objects.filter(pk=e6.pk).update(
        created_at=utc(2026, 10, 28, 12), is_active=False, deletion_reason="Duplicate dossier"
    )
    return World(a=a, b=b, pa1=pa1, pa2=pa2, pa3=pa3, pb1=pb1, pu=pu)


def _someone() -> Person:
    from tests.factories.people import PersonFactory

    return PersonFactory()


def outcomes(**counts) -> dict[str, int]:
    found = dict.fromkeys(CallOutcome.values, 0)
    found.update(counts)
    return found
