"""import_legacy_crm --bulk-load (issue 11, "fast and flat"): the same rows and report as a normal run,
the indexes and foreign keys back as they were, the rules' constraints checked throughout, refused on a
CRM that already holds more rows than the files."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from common.imports.report import Outcome
from patients.imports.legacy_crm.bulk_load import TABLES
from patients.models import CallHistory, Patient, PatientLead, Physician
from people.models import Person
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory
from tests.patients import legacy_crm_files as files
from tests.patients.test_import_legacy_crm import navigator, run  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def _schema() -> list[tuple]:
    """Every index and constraint of the bulk-loaded tables, with its definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
            WHERE t.relname = ANY(%s)
            UNION ALL
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) || convalidated::text
            FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)
            ORDER BY 1, 2, 3
            """,
            [list(TABLES), list(TABLES)],
        )
        return cursor.fetchall()


def _outcomes(report) -> list[tuple]:
    return sorted((r["file"], r["row"], r["old_id"], r["outcome"], r["reason"]) for r in report.rows)


def test_bulk_load_gives_the_same_rows_and_report_and_restores_indexes_and_keys(tmp_path, navigator):  # noqa: F811
    folder = files.write(tmp_path)
    schema = _schema()
    assert any("gin_trgm_ops" in row[2] for row in schema) and any("FOREIGN KEY" in row[2] for row in schema)
    normal = run(folder, navigator=navigator.email, dry_run=True)
    bulk = run(folder, navigator=navigator.email, bulk_load=True)
    assert _outcomes(bulk) == _outcomes(normal)
    assert _schema() == schema
    # The rules held: one Person per email, the patient, the lead converted, the physician, the call.
    assert Person.objects.filter(email="ann.lee@example.org").count() == 1
    ann = Patient.objects.get(person__email="ann.lee@example.org")
    assert PatientLead.objects.get(person__email="ann.lee@example.org").converted_patient == ann
    assert Physician.objects.filter(person__email="who@example.org").exists()
    call = CallHistory.objects.filter(patient=ann).order_by("-call_date").first()
    ann.refresh_from_db()
    assert ann.follow_up_date == call.reminder_date  # the follow-up refresh ran after the indexes came back
    # The idempotent second run (a normal one) finds everything.
    second = run(folder, navigator=navigator.email)
    assert second.count(outcome=Outcome.CREATED) == 0
    assert second.count(outcome=Outcome.UNCHANGED) == second.count() - second.count(outcome=Outcome.SKIPPED)


def test_a_bulk_load_dry_run_leaves_the_schema_and_the_tables_as_they_were(tmp_path):
    schema, persons = _schema(), Person.all_objects.count()
    report = run(files.write(tmp_path), dry_run=True, bulk_load=True)
    assert report.count("contact.csv", Outcome.CREATED) > 0
    assert _schema() == schema
    assert Person.all_objects.count() == persons


def test_bulk_load_is_refused_on_a_crm_holding_more_rows_than_the_files_unless_forced(tmp_path):
    folder = files.write(tmp_path)
    PersonFactory.create_batch(25)  # the files hold 20 rows
    schema, persons = _schema(), Person.all_objects.count()
    with pytest.raises(CommandError, match=r"--bulk-load: the table person already holds 25 rows, more than the 20"):
        call_command("import_legacy_crm", str(folder), "--quiet", "--bulk-load", stdout=io.StringIO())
    assert Person.all_objects.count() == persons and _schema() == schema
    call_command("import_legacy_crm", str(folder), "--quiet", "--force-bulk-load", stdout=io.StringIO())
    assert Person.objects.filter(email="ann.lee@example.org").exists()
    assert _schema() == schema


@pytest.mark.parametrize("bulk_load", [False, True])
def test_a_stored_person_who_is_already_a_patient_keeps_that_patient(tmp_path, bulk_load):
    stored = PatientFactory(person=PersonFactory(email="finn@example.org", first_name="Finn", last_name="Ox"))
    report = run(files.write(tmp_path), bulk_load=bulk_load)
    row = next(r for r in report.rows if r["file"] == "patient.csv" and r["new_id"] == str(stored.pk))
    assert row["outcome"] == Outcome.CONFLICT  # its contact_record names no contact: matched by email
    assert "the person is already a patient" in row["reason"]
    assert Patient.all_objects.filter(person=stored.person).count() == 1


@pytest.mark.parametrize("bulk_load", [False, True])
def test_every_patient_s_follow_up_follows_its_calls_new_patients_and_stored_ones(tmp_path, navigator, bulk_load):  # noqa: F811
    """New Patients get their follow-up in their INSERT, a stored patient who got a call from the refresh:
    both agree with the calls (``follow_up_mismatches`` reads every patient's latest call)."""
    from patients.follow_up import follow_up_mismatches

    stored = PatientFactory(person=PersonFactory(email="finn@example.org", first_name="Finn", last_name="Ox"))
    contacts = files.CONTACTS + "c10,Finn,Ox,finn@example.org,,,nurse,2023-01-05 09:00,2023-01-20,,,,\n"
    run(files.write(tmp_path, contacts=contacts), navigator=navigator.email, bulk_load=bulk_load)
    stored.refresh_from_db()
    assert stored.follow_up_date == dt.date(2023, 1, 20)
    ann = Patient.objects.get(person__email="ann.lee@example.org")
    assert ann.follow_up_date == dt.date(2023, 3, 8)  # the latest of her two bookings (c1, c6)
    assert Patient.objects.filter(follow_up_date__isnull=False).count() >= 2
    assert [found for _, found in follow_up_mismatches()] == [[]]
