"""A patient's follow-up date and last call, stored on the patient: every path that writes calls keeps
them equal to the latest non-void call, in its own transaction; ``check_follow_up_dates`` finds and
repairs rows that disagree anyway."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone
from pghistory.models import Events

from patients import services
from patients.follow_up import follow_up_mismatches, refresh_follow_up
from patients.models import Patient
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.factories.patients import PatientFactory

pytestmark = pytest.mark.django_db


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def in_days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def stored(patient: Patient) -> tuple:
    row = Patient.all_objects.values_list("follow_up_date", "last_call_at").get(pk=patient.pk)
    return tuple(row)


def log(patient: Patient, *, when: dt.datetime, reminder: dt.date | None = None):
    return services.call_log(
        patient=patient, outcome="reached", call_date=when, reminder_date=reminder, navigator=patient.navigator
    )


def test_a_new_patient_has_no_follow_up():
    assert stored(PatientFactory()) == (None, None)


def test_logging_calls_keeps_the_latest_calls_reminder_and_date():
    patient = PatientFactory()
    first = log(patient, when=days_ago(5), reminder=in_days(3))
    assert stored(patient) == (in_days(3), first.call_date)
    # A call logged late but made earlier does not replace the latest one.
    log(patient, when=days_ago(9), reminder=in_days(1))
    assert stored(patient) == (in_days(3), first.call_date)
    # A newer call without a reminder clears the follow-up: nothing is left to follow up.
    latest = log(patient, when=days_ago(1))
    assert stored(patient) == (None, latest.call_date)


def test_correcting_a_call_moves_the_follow_up():
    patient = PatientFactory()
    older = log(patient, when=days_ago(6), reminder=in_days(2))
    newer = log(patient, when=days_ago(3), reminder=in_days(4))
    services.call_update(call=newer, data={"reminder_date": in_days(10)})
    assert stored(patient) == (in_days(10), newer.call_date)
    # The older call's date corrected to after the newer one: it becomes the latest.
    services.call_update(call=older, data={"call_date": days_ago(1)})
    assert stored(patient) == (in_days(2), Patient.objects.get(pk=patient.pk).calls.get(pk=older.pk).call_date)


def test_voiding_the_latest_call_falls_back_to_the_one_before_and_restoring_brings_it_back():
    patient = PatientFactory()
    earlier = log(patient, when=days_ago(8), reminder=in_days(2))
    latest = log(patient, when=days_ago(2), reminder=in_days(5))
    services.call_void(call=latest, reason="Logged on the wrong patient")
    assert stored(patient) == (in_days(2), earlier.call_date)
    services.call_void(call=earlier, reason="Duplicate")
    assert stored(patient) == (None, None)
    services.call_restore(call=latest)
    assert stored(patient) == (in_days(5), latest.call_date)


def test_a_refused_call_leaves_the_follow_up_alone():
    patient = PatientFactory()
    kept = log(patient, when=days_ago(4), reminder=in_days(3))
    with pytest.raises(ValidationError):
        services.call_log(patient=patient, outcome="great", navigator=patient.navigator, reminder_date=in_days(9))
    assert stored(patient) == (in_days(3), kept.call_date)


def test_the_follow_up_columns_add_no_patient_history():
    """They are derived from the calls, whose history records every change: logging a call is not an
    edit of the patient."""
    patient = PatientFactory()
    before = Events.objects.filter(pgh_obj_model="patients.Patient", pgh_obj_id=str(patient.pk)).count()
    log(patient, when=days_ago(1), reminder=in_days(2))
    assert stored(patient) == (in_days(2), Patient.objects.get(pk=patient.pk).last_call_at)
    assert Events.objects.filter(pgh_obj_model="patients.Patient", pgh_obj_id=str(patient.pk)).count() == before


def test_refresh_of_everyone_and_of_some_patients_repairs_what_sql_broke():
    called, other, never = PatientFactory(), PatientFactory(), PatientFactory()
    call = log(called, when=days_ago(3), reminder=in_days(6))
    log(other, when=days_ago(2), reminder=in_days(1))
    Patient.all_objects.update(follow_up_date=in_days(99), last_call_at=None)
    assert refresh_follow_up(patient_ids=[called.pk]) == 1
    assert stored(called) == (in_days(6), call.call_date)
    assert stored(other) == (in_days(99), None)
    assert refresh_follow_up() == 2
    assert (stored(other)[0], stored(never)) == (in_days(1), (None, None))
    assert refresh_follow_up() == 0


def test_check_follow_up_dates_finds_and_repairs_a_corrupted_row_past_the_first_batch():
    patients = [PatientFactory() for _ in range(5)]
    calls = {p.pk: log(p, when=days_ago(2), reminder=in_days(4)) for p in patients}
    last = max(patients, key=lambda p: str(p.pk))  # in the last batch of 2
    Patient.all_objects.filter(pk=last.pk).update(follow_up_date=in_days(40))

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("check_follow_up_dates", "--batch-size", "2", stdout=out, stderr=err)
    assert str(caught.value) == "1 of 5 patients disagree with their calls. Run with --repair to fix them."
    assert out.getvalue() == (
        f"{last.pk}: follow-up stored {in_days(40).isoformat()}, calls say {in_days(4).isoformat()}; "
        f"last call stored {calls[last.pk].call_date.isoformat()}, calls say {calls[last.pk].call_date.isoformat()}\n"
    )
    assert "patients checked" in err.getvalue()
    assert stored(last)[0] == in_days(40)  # only checked

    out = io.StringIO()
    call_command("check_follow_up_dates", "--repair", "--batch-size", "2", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[-1] == "Repaired 1 of 5 patients (1 disagreed)."
    assert stored(last) == (in_days(4), calls[last.pk].call_date)

    out = io.StringIO()
    call_command("check_follow_up_dates", "--no-progress", stdout=out)
    assert out.getvalue() == "All 5 patients agree with their calls.\n"


def test_check_follow_up_dates_refuses_a_bad_batch_size():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("check_follow_up_dates", "--batch-size", "0")


def test_mismatches_walk_every_patient_in_batches():
    for _ in range(5):
        PatientFactory()
    assert [(n, found) for n, found in follow_up_mismatches(batch_size=2)] == [(2, []), (2, []), (1, [])]


@pytest.mark.django_db(transaction=True)
def test_two_calls_logged_at_once_for_one_patient_end_with_the_latest_calls_follow_up():
    """The later call's transaction commits first while the other, holding an earlier call, has already
    inserted it: the second must still see the first's call when it sets the follow-up."""
    patient = PatientFactory()
    logged, held = threading.Event(), {}

    def navigator_logs_todays_call() -> None:
        try:
            with transaction.atomic():
                held["latest"] = log(patient, when=days_ago(0), reminder=in_days(7))
                logged.set()
                wait_until_a_session_waits_for_a_lock()
        finally:
            connection.close()

    first = threading.Thread(target=navigator_logs_todays_call)
    first.start()
    assert logged.wait(timeout=30)
    # Inserts its (older) call, then waits for the patient's row until the first commits.
    log(patient, when=days_ago(3), reminder=in_days(1))
    first.join(timeout=30)
    assert stored(patient) == (in_days(7), held["latest"].call_date)
    assert list(follow_up_mismatches()) == [(1, [])]
