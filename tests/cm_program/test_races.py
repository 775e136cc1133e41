"""Services that lock a row and then read its related rows, under real concurrent transactions.

A row joined to a ``SELECT ... FOR UPDATE`` comes from the snapshot taken before the lock wait, so the
services lock the row alone and read what it points at after the lock; these tests hold them to it.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from cm_program import services
from cm_program.models import CanonicalPatient, CMEnrollment, CMPointsTransaction, PointsEvent
from people.models import Person
from tests.cm_program.conftest import run_concurrently
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.factories.cm_program import CanonicalPatientFactory, CMEnrollmentFactory, CMProgramFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_find_or_create_of_a_known_identity_all_return_the_one_linked_person():
    # An identity typed in before it had a Person (the document's SQL, an import): each call links it.
    canonical = CanonicalPatientFactory(first_name="Rosa", last_name="Vega", date_of_birth="1985-06-01")
    assert canonical.person_id is None
    call = lambda: services.canonical_patient_find_or_create(  # noqa: E731
        first_name="Rosa", last_name="Vega", date_of_birth="1985-06-01", email="rosa.vega@example.org"
    )

    results = run_concurrently(*[call] * 12)

    assert [status for status, _ in results] == ["ok"] * 12, results
    person = Person.all_objects.get()
    assert person.email == "rosa.vega@example.org"
    for _, identity in results:
        assert identity.canonical_patient.pk == canonical.pk and identity.created is False
        assert identity.person is not None and identity.person.pk == person.pk
        assert identity.canonical_patient.person_id == person.pk
    assert sum(identity.person_created for _, identity in results) == 1
    assert CanonicalPatient.objects.get().person_id == person.pk


@pytest.mark.django_db(transaction=True)
def test_an_event_that_waited_for_the_enrollment_lock_earns_the_schedule_committed_meanwhile():
    program = CMProgramFactory(name="Schedule race", points_group_attendance=25)
    enrollment = CMEnrollmentFactory(cm_program=program)
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def other_cpss_holds_the_enrollment() -> None:
        # Another transaction working on this enrollment (recording an event, pausing it...).
        try:
            with transaction.atomic():
                CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def record_attendance() -> None:
        try:
            outcome["entry"] = services.cm_event_record(
                enrollment=CMEnrollment.objects.get(pk=enrollment.pk), event_type=PointsEvent.GROUP_ATTENDANCE
            )
        except Exception as exc:  # shown by the assertion below
            outcome["error"] = exc
        finally:
            connection.close()

    holder = threading.Thread(target=other_cpss_holds_the_enrollment)
    holder.start()
    assert locked.wait(timeout=30)
    recorder = threading.Thread(target=record_attendance)
    recorder.start()
    try:
        wait_until_a_session_waits_for_a_lock()
        # The supervisor raises the value while the event waits; it is recorded after this commit.
        services.cm_program_update(program=program, points_group_attendance=40)
    finally:
        release.set()
        holder.join(timeout=30)
        recorder.join(timeout=30)

    assert "error" not in outcome, outcome
    entry = CMPointsTransaction.objects.get(enrollment=enrollment)
    assert (entry.event_type, entry.points) == (PointsEvent.GROUP_ATTENDANCE, 40)
    assert outcome["entry"].pk == entry.pk
    enrollment.refresh_from_db()
    assert enrollment.total_points == 40
