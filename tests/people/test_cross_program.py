"""The cross-program view of a Person (issue 14, point 1): both programs on the Person page, for
superusers only, in a fixed number of queries, logged to the PHI access log as such."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from cm_program import services as cm_services
from common.models import PHIAccess
from journeys.transitions import CTStatus, EAPStatus
from people.cross_program import CROSS_PROGRAM_SCOPE, cross_program_view
from people.models import ContactType
from tests.admin_smoke import admin_url
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProgramFactory,
    CMProviderFactory,
    IntakeQLinkFactory,
)
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory, PatientLeadFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db

CROSS_PROGRAM_QUERIES = 6


def _both_programs(*, calls: int, enrollments: int):
    """A patient of navigation with ``calls`` calls (one more, voided) and two journeys (one closed), who is
    also a CM patient with ``enrollments`` enrollments, 25 points on the first, and an IntakeQ link."""
    person = PersonFactory(first_name="Bo", last_name="Bothways", email="bo@both.example.org")
    PersonContactTypeFactory(person=person)
    PatientLeadFactory(person=person)
    patient = PatientFactory(person=person)
    now = timezone.now()
    for i in range(calls):
        CallHistoryFactory(patient=patient, call_date=now - dt.timedelta(days=i + 1))
    voided = CallHistoryFactory(patient=patient, call_date=now)
    voided.is_active, voided.deleted_at, voided.deletion_reason = False, now, "Logged by mistake."
    voided.save()
    ClinicalTrialJourneyFactory(patient=patient, status=CTStatus.REFERRED)
    EAPJourneyFactory(patient=patient, status=EAPStatus.PENDING)
    ClinicalTrialJourneyFactory(patient=patient, status=CTStatus.DECLINED)
    canonical = CanonicalPatientFactory(person=person, first_name="Bo", last_name="Bothways")
    profile = CMPatientFactory(canonical_patient=canonical)
    program = CMProgramFactory(name="Cross CM")
    for i in range(enrollments):
        enrollment = CMEnrollmentFactory(
            cm_patient=profile, cm_program=program if i == 0 else CMProgramFactory(), cpss_provider=CMProviderFactory()
        )
        if i == 0:
            cm_services.cm_event_record(enrollment=enrollment, event_type="group_attendance")
    IntakeQLinkFactory(canonical_patient=canonical, confidence_score=Decimal("0.92"))
    return person


def test_the_view_shows_both_programs(django_assert_num_queries):
    person = _both_programs(calls=3, enrollments=2)
    with django_assert_num_queries(CROSS_PROGRAM_QUERIES):
        view = cross_program_view(person)
    nav, cm = view.navigation, view.cm
    assert [period.contact_type.code for period in nav.roles] == [ContactType.PATIENT_LEAD]
    assert nav.patient.person_id == person.pk and len(nav.leads) == 1 and nav.physician is None
    assert nav.condition == nav.patient.medical_condition and nav.navigator == nav.patient.navigator
    assert nav.calls_count == 3  # the voided call left out
    assert nav.last_call == max(c.call_date for c in nav.patient.calls.filter(is_active=True))
    assert sorted(j.get_status_display() for j in nav.open_journeys) == sorted(
        [CTStatus.REFERRED.label, EAPStatus.PENDING.label]
    )
    assert cm.canonical.person_id == person.pk and cm.profile.canonical_patient_id == cm.canonical.pk
    assert len(cm.enrollments) == 2 and len(cm.cpss) == 2
    assert cm.points_total == 25
    assert cm.confidence == Decimal("0.92") and cm.intakeq_link.canonical_patient_id == cm.canonical.pk


def test_the_query_count_does_not_grow_with_calls_journeys_or_enrollments(django_assert_num_queries):
    small = _both_programs(calls=1, enrollments=1)
    with django_assert_num_queries(CROSS_PROGRAM_QUERIES):
        cross_program_view(small)
    lone = PersonFactory(email="lone@example.org")
    with django_assert_num_queries(CROSS_PROGRAM_QUERIES):
        view = cross_program_view(lone.pk)
    assert view.navigation.is_empty and view.cm.is_empty and view.navigation.calls_count == 0
    big = PersonFactory(email="big@example.org")
    patient = PatientFactory(person=big)
    for i in range(12):
        CallHistoryFactory(patient=patient, call_date=timezone.now() - dt.timedelta(hours=i + 1))
    profile = CMPatientFactory(canonical_patient=CanonicalPatientFactory(person=big))
    for _ in range(5):
        CMEnrollmentFactory(cm_patient=profile)
    with django_assert_num_queries(CROSS_PROGRAM_QUERIES):
        view = cross_program_view(big)
    assert view.navigation.calls_count == 12 and len(view.cm.enrollments) == 5


def test_a_superuser_s_person_page_shows_both_programs_and_logs_it(client, superuser):
    person = _both_programs(calls=2, enrollments=1)
    client.force_login(superuser)
    page = client.get(admin_url(type(person), "change", person.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="cross-program"' in html
    assert "Patient navigation" in html and "Contingency management" in html
    assert page.context["cross_program"].navigation.calls_count == 2
    assert 'id="cross-program-points">25<' in html
    assert "confidence 0.92" in html
    entry = PHIAccess.objects.get()
    assert (entry.user, entry.access_type, entry.person_id) == (superuser, "detail", person.pk)
    assert entry.scope == f"change+{CROSS_PROGRAM_SCOPE}"


def test_a_person_known_to_one_program_says_so(client, superuser):
    person = PersonFactory(email="nav@example.org")
    PersonContactTypeFactory(person=person)
    client.force_login(superuser)
    html = client.get(admin_url(type(person), "change", person.pk)).content.decode()
    assert "Not known to contingency management." in html
    assert "Not known to patient navigation." not in html
