"""migrate_cm_patients (issue 11, part 2): the CM document's Phase 2 from the old Supabase exports."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pghistory.models import Events

from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQPatient,
)
from cm_program.selectors import ledger_discrepancies
from common.imports.files import ImportFiles
from common.imports.models import ImportKind, ImportMapping
from common.imports.report import ImportReport
from common.imports.runner import execute
from people.models import Person

pytestmark = pytest.mark.django_db

CASEY = "11111111-1111-1111-1111-111111111111"
DOC = "22222222-2222-2222-2222-222222222222"

PATIENTS = [
    {"id": "p1", "first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-02", "email": "Ann@X.org ",
     "phone": "(801) 555-0101", "intakeq_client_id": ""},
    {"id": "p2", "first_name": "José", "last_name": "García", "date_of_birth": "1985-06-15", "email": "jose@x.org",
     "phone": "801-555-0102", "intakeq_client_id": "IQ-2"},
    {"id": "p3", "first_name": "Bob", "last_name": "Nodob", "date_of_birth": "", "email": "bob@x.org", "phone": "",
     "intakeq_client_id": ""},
    {"id": "p4", "first_name": "Psy", "last_name": "Only", "date_of_birth": "1970-03-03", "email": "psy@x.org",
     "phone": "", "intakeq_client_id": "IQ-4"},
    {"id": "p5", "first_name": "Cm", "last_name": "Unenrolled", "date_of_birth": "1980-01-01", "email": "",
     "phone": "", "intakeq_client_id": ""},
]  # fmt: skip
PROVIDERS = [
    {"id": CASEY, "first_name": "Casey", "last_name": "Peer", "email": "casey@moonlit.org", "phone": "801-555-0200"},
    {"id": DOC, "first_name": "Doc", "last_name": "Psych", "email": "doc@moonlit.org", "phone": ""},
]


def enrollment(old_id, patient_id, *, cpss=CASEY, total=0, streak=0, status="active", date="2024-01-05", **extra):
    row = {
        "id": old_id,
        "patient_id": patient_id,
        "cm_program_id": "",
        "cpss_provider_id": cpss,
        "total_points": str(total),
        "current_streak": str(streak),
        "enrollment_date": date,
        "status": status,
        "medicaid_verification": "",
        "pod_assignment": "",
        "notes": "",
    }
    row.update(extra)
    return row


ENROLLMENTS = [
    enrollment("e1", "p1", total=110, streak=0, medicaid_verification='{"verified": true}', pod_assignment="A"),
    enrollment("e2", "p2", total=60, streak=1),
    enrollment("e3", "p3"),
]


def tx(old_id, enr, points, kind, when, description=""):
    return {"id": old_id, "cm_patient_id": enr, "points": str(points), "transaction_type": kind,
            "description": description, "created_at": when}  # fmt: skip


LEDGER = [
    tx("t1", "e1", 50, "negative_test", "2024-01-10T10:00:00Z"),
    tx("t3", "e1", 0, "positive_test", "2024-01-24T10:00:00Z"),  # out of order in the file
    tx("t2", "e1", 60, "negative_test", "2024-01-17T10:00:00Z"),
    tx("t4", "e2", 25, "attendance", "2024-02-06T10:00:00Z"),
    tx("t5", "e2", -5, "redemption", "2024-02-07T10:00:00Z", "gift card"),
    tx("t6", "e3", 10, "attendance", "2024-02-07T10:00:00Z"),
    tx("t7", "e9", 10, "attendance", "2024-02-07T10:00:00Z"),
]


def write(folder, name, rows, columns=None):
    columns = columns or list(rows[0])
    with open(folder / name, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def export(tmp_path):
    def make(patients=PATIENTS, providers=PROVIDERS, enrollments=ENROLLMENTS, ledger=LEDGER, programs=None):
        write(tmp_path, "patients.csv", patients)
        write(tmp_path, "providers.csv", providers)
        write(tmp_path, "cm_patients.csv", enrollments)
        write(tmp_path, "cm_points_transactions.csv", ledger)
        if programs is not None:
            write(tmp_path, "contingency_management.csv", programs)
        return tmp_path

    return make


def migrate(folder, *, dry_run=False, actor=None, **options) -> ImportReport:
    return execute(
        kind=ImportKind.CM_PATIENTS,
        files=ImportFiles.from_folder(folder),
        options={"program": "Moonlit CM", **options},
        dry_run=dry_run,
        actor=actor,
    )


def rows_of(report: ImportReport) -> dict[tuple[str, str], dict]:
    return {(row["file"], row["old_id"]): row for row in report.notable}


def outcomes(report: ImportReport, file: str) -> dict[str, int]:
    return report.as_dict()["counts"].get(file, {})


def test_phase_two_migrates_identities_profiles_providers_enrollments_and_ledger(export):
    report = migrate(export())

    assert outcomes(report, "patients.csv") == {"created": 3, "skipped": 2}
    assert outcomes(report, "providers.csv") == {"created": 1, "skipped": 1}
    assert outcomes(report, "cm_patients.csv") == {"created": 1, "conflict": 1, "skipped": 1}
    assert outcomes(report, "cm_points_transactions.csv") == {"created": 5, "skipped": 2}
    assert report.count() == 5 + 2 + 3 + 7  # every input row accounted for

    ann = CanonicalPatient.objects.select_related("person", "cm_profile").get(last_name="Lee")
    assert (ann.person.email, ann.person.phone) == ("ann@x.org", "+18015550101")
    assert (ann.cm_profile.email, ann.cm_profile.phone, ann.cm_profile.enrollment_source) == (
        "ann@x.org",
        "+18015550101",
        None,
    )
    jose = CanonicalPatient.objects.get(last_name="García")
    assert jose.cm_profile.enrollment_source == "existing_patient"
    link = IntakeQLink.objects.get(canonical_patient=jose)
    assert (link.intakeq_patient.intakeq_client_id, str(link.confidence_score), link.notes) == (
        "IQ-2",
        "1.00",
        "migrated",
    )
    # A psychiatry-only client gets its mirror row, not a canonical identity; no DOB: nothing.
    assert IntakeQPatient.objects.filter(intakeq_client_id="IQ-4", first_name="Psy").exists()
    assert not CanonicalPatient.objects.filter(last_name__in=["Only", "Nodob", "Unenrolled"]).exists()

    casey = CMProvider.objects.get()
    assert (str(casey.canonical_provider_id), casey.email, casey.phone) == (CASEY, "casey@moonlit.org", "+18015550200")

    e1 = CMEnrollment.objects.get(canonical_patient=ann)
    assert (e1.cm_program.name, e1.cpss_provider, e1.status, e1.medicaid_verification, e1.pod_assignment) == (
        "Moonlit CM",
        casey,
        "active",
        {"verified": True},
        "A",
    )
    ledger = list(
        e1.points_transactions.order_by("sequence").values_list("sequence", "event_type", "points", "streak_after")
    )
    assert ledger == [(1, "test_negative", 50, 1), (2, "test_negative", 60, 2), (3, "test_positive", 0, 0)]
    assert (e1.total_points, e1.current_streak) == (110, 0)
    e2 = CMEnrollment.objects.get(canonical_patient=jose)
    adjustment = e2.points_transactions.get(sequence=2)
    assert (adjustment.event_type, adjustment.points, adjustment.reason) == (
        "manual_adjustment",
        -5,
        "gift card (old type: redemption)",
    )
    assert (e2.total_points, e2.current_streak) == (20, 0)
    assert ledger_discrepancies() == []  # cm_check_ledger agrees

    rows = rows_of(report)
    assert rows[("cm_patients.csv", "e2")]["outcome"] == "conflict"
    assert rows[("cm_patients.csv", "e2")]["reason"] == (
        "totals differ from the ledger: total_points: old 60, ledger 20; current_streak: old 1, ledger 0"
    )
    assert rows[("patients.csv", "p3")]["reason"].startswith("no date of birth")
    assert rows[("cm_patients.csv", "e3")]["outcome"] == "skipped"
    assert rows[("cm_points_transactions.csv", "t7")]["reason"] == "cm_patient_id is not in cm_patients.csv: e9"
    assert rows[("providers.csv", DOC)]["reason"].startswith("not the CPSS of any CM enrollment")
    assert report.reasons[("patients.csv", "created", "CM-written row: migrated; ready to leave the shared table")] == 1


def test_a_second_run_creates_nothing_and_says_unchanged(export):
    folder = export()
    migrate(folder)
    counts = [
        Model.objects.count() for Model in (Person, CanonicalPatient, CMPatient, CMEnrollment, CMPointsTransaction)
    ]
    events = Events.objects.count()
    report = migrate(folder)
    assert [
        M.objects.count() for M in (Person, CanonicalPatient, CMPatient, CMEnrollment, CMPointsTransaction)
    ] == counts
    assert Events.objects.count() == events
    assert report.count(outcome="created") == 0
    assert outcomes(report, "cm_points_transactions.csv") == {"unchanged": 5, "skipped": 2}
    assert outcomes(report, "patients.csv") == {"unchanged": 3, "skipped": 2}
    assert outcomes(report, "cm_patients.csv") == {"unchanged": 2, "skipped": 1}


def test_new_transactions_of_a_later_export_are_appended_after_the_existing_ones(export):
    folder = export()
    migrate(folder)
    migrate(export(ledger=[*LEDGER, tx("t8", "e1", 50, "negative_test", "2024-01-31T10:00:00Z")]))
    e1 = CMEnrollment.objects.get(canonical_patient__last_name="Lee")
    last = e1.points_transactions.order_by("sequence").last()
    assert (last.sequence, last.points, last.streak_after) == (4, 50, 1)
    assert (e1.total_points, e1.current_streak) == (160, 1)


def test_dry_run_reports_everything_and_keeps_nothing(export):
    report = migrate(export(), dry_run=True)
    assert report.count(outcome="created") == 10
    assert "nothing was saved" in report.render()
    assert not CanonicalPatient.objects.exists() and not CMPointsTransaction.objects.exists()
    assert not ImportMapping.objects.exists()


def test_rows_are_audited_with_channel_import_and_their_file(export):
    migrate(export())
    canonical = CanonicalPatient.objects.get(last_name="Lee")
    enrollment_row = CMEnrollment.objects.get(canonical_patient=canonical)
    insert = Events.objects.filter(pgh_obj_id=str(canonical.pk), pgh_label="insert").get()
    assert (insert.pgh_context["channel"], insert.pgh_context["file"]) == ("import", "patients.csv")
    enrolled = Events.objects.filter(pgh_obj_id=str(enrollment_row.pk), pgh_label="insert").get()
    assert enrolled.pgh_context["file"] == "cm_patients.csv"
    totals = Events.objects.filter(pgh_obj_id=str(enrollment_row.pk), pgh_label="update").get()
    assert totals.pgh_context["file"] == "cm_points_transactions.csv"
    person = Events.objects.filter(pgh_obj_id=str(canonical.person_id), pgh_label="insert").get()
    assert person.pgh_context["importer"] == "cm_patients"


def test_a_missing_column_stops_the_run_before_anything_is_written(export):
    folder = export()
    write(folder, "cm_points_transactions.csv", LEDGER, columns=["id", "cm_patient_id", "points", "created_at"])
    with pytest.raises(CommandError, match=r"cm_points_transactions.csv: missing column\(s\) transaction_type"):
        call_command("migrate_cm_patients", str(folder), "--program", "Moonlit CM", stdout=io.StringIO())
    assert not CanonicalPatient.objects.exists() and not CMProgram.objects.exists()


def test_a_missing_file_is_named(export):
    folder = export()
    (folder / "providers.csv").unlink()
    with pytest.raises(CommandError, match="providers.csv: missing"):
        call_command("migrate_cm_patients", str(folder), "--program", "Moonlit CM", stdout=io.StringIO())


def test_bad_rows_in_the_middle_are_reported_and_the_rest_imported(export):
    patients = [*PATIENTS[:1], {**PATIENTS[2], "id": "bad", "date_of_birth": "02/30/1990"}, *PATIENTS[1:]]
    ledger = [*LEDGER[:2], tx("tx-bad", "e1", "ten", "attendance", "2024-01-11"), *LEDGER[2:]]
    report = migrate(export(patients=patients, ledger=ledger))
    rows = rows_of(report)
    assert rows[("patients.csv", "bad")]["reason"] == "date_of_birth is not a date (YYYY-MM-DD): 02/30/1990"
    assert rows[("patients.csv", "bad")]["row"] == 3
    assert rows[("cm_points_transactions.csv", "tx-bad")]["reason"] == "points is not a whole number: ten"
    assert CMPointsTransaction.objects.count() == 5


def test_no_program_named_and_none_to_default_to_is_a_clear_error(export):
    with pytest.raises(CommandError, match="--program: there is no active program"):
        call_command("migrate_cm_patients", str(export()), stdout=io.StringIO())


def test_programs_file_matches_by_name_ignoring_case_and_creates_the_missing(export):
    existing = CMProgram.objects.create(name="Moonlit CM")
    enrollments = [
        enrollment("e1", "p1", cm_program_id="10"),
        enrollment("e2", "p2", cm_program_id="20"),
        enrollment("e3", "p4", cm_program_id="99"),
    ]
    programs = [{"id": "10", "name": " moonlit cm "}, {"id": "20", "name": "Pilot"}]
    report = migrate(export(enrollments=enrollments, programs=programs), program=None)
    assert CMEnrollment.objects.get(canonical_patient__last_name="Lee").cm_program == existing
    assert CMEnrollment.objects.get(canonical_patient__last_name="García").cm_program.name == "Pilot"
    assert outcomes(report, "contingency_management.csv") == {"matched": 1, "created": 1}
    assert rows_of(report)[("cm_patients.csv", "e3")]["reason"].endswith("contingency_management.csv: not migrated: 99")


def test_stored_person_values_are_never_overwritten(export):
    Person.objects.create(first_name="Ann", last_name="Lee", email="ann@x.org", phone="+18015550999")
    report = migrate(export())
    person = Person.objects.get(email="ann@x.org")
    assert person.phone == "+18015550999"
    assert person.date_of_birth.isoformat() == "1990-01-02"  # an empty field is filled
    row = rows_of(report)[("patients.csv", "p1")]
    assert row["outcome"] == "conflict"
    assert "the Person's stored phone +18015550999 is kept" in row["reason"]
    assert CanonicalPatient.objects.get(last_name="Lee").person == person


def test_an_email_of_another_canonical_patient_is_refused_for_that_row(export):
    other = CanonicalPatient.objects.create(
        first_name="Annie",
        last_name="Leigh",
        date_of_birth="1991-01-01",
        person=Person.objects.create(first_name="Annie", last_name="Leigh", email="ann@x.org"),
    )
    report = migrate(export())
    row = rows_of(report)[("patients.csv", "p1")]
    assert (row["outcome"], row["reason"]) == (
        "skipped",
        "the email belongs to another canonical patient: check the name and date of birth; not migrated: "
        "Annie Leigh, 1991-01-01",
    )
    assert not CanonicalPatient.objects.filter(last_name="Lee").exists()
    assert CanonicalPatient.objects.filter(pk=other.pk).exists()
    assert rows_of(report)[("cm_patients.csv", "e1")]["outcome"] == "skipped"


def test_a_person_outside_the_operators_program_is_a_record_you_cannot_see(export, cm_supervisor_user):
    from people.models import ContactType, PersonContactType

    navigation = Person.objects.create(first_name="Ann", last_name="Lee", email="ann@x.org")
    PersonContactType.objects.create(person=navigation, contact_type=ContactType.objects.get(code="patient"))
    report = migrate(export(), actor=cm_supervisor_user)
    row = rows_of(report)[("patients.csv", "p1")]
    assert (row["outcome"], row["reason"]) == ("skipped", "the email matches a record you cannot see: not migrated")
    assert "Ann" not in row["reason"]


def test_an_existing_cpss_at_capacity_keeps_the_limit_and_the_overflow_waits_for_a_cpss(export):
    CMProvider.objects.create(first_name="Casey", last_name="Peer", email="casey@moonlit.org", max_caseload=1)
    report = migrate(export())
    casey = CMProvider.objects.get()
    assert casey.max_caseload == 1
    assert CMEnrollment.objects.filter(cpss_provider=casey, status="active").count() == 1
    waiting = CMEnrollment.objects.get(cpss_provider__isnull=True)
    assert waiting.canonical_patient.last_name == "García"  # the later enrollment
    row = rows_of(report)[("cm_patients.csv", "e2")]
    assert row["outcome"] == "conflict"
    assert "the CPSS Casey Peer is at capacity (0 of 1 active): enrolled without a CPSS; assign one" in row["reason"]


def test_a_new_cpss_gets_a_limit_that_holds_the_old_caseload(export):
    patients = [
        {"id": f"q{i}", "first_name": "Pat", "last_name": f"Number{i}", "date_of_birth": "1990-01-01", "email": "",
         "phone": "", "intakeq_client_id": ""}
        for i in range(32)
    ]  # fmt: skip
    enrollments = [enrollment(f"f{i}", f"q{i}") for i in range(32)]
    report = migrate(export(patients=patients, enrollments=enrollments, ledger=LEDGER[:1]))
    casey = CMProvider.objects.get()
    assert casey.max_caseload == 32
    assert CMEnrollment.objects.filter(cpss_provider=casey, status="active").count() == 32
    assert any("max_caseload raised from 30 to 32" in note for note in report.notes)


def test_two_old_enrollments_of_one_human_in_one_program_become_one(export):
    patients = [*PATIENTS, {**PATIENTS[0], "id": "p1-again", "first_name": " ann ", "email": ""}]
    enrollments = [*ENROLLMENTS, enrollment("e1-again", "p1-again")]
    ledger = [*LEDGER, tx("t9", "e1-again", 25, "attendance", "2024-03-01T10:00:00Z")]
    report = migrate(export(patients=patients, enrollments=enrollments, ledger=ledger))
    e1 = CMEnrollment.objects.get(canonical_patient__last_name="Lee")
    assert CMEnrollment.objects.filter(canonical_patient__last_name="Lee").count() == 1
    assert e1.total_points == 135
    assert rows_of(report)[("cm_patients.csv", "e1-again")]["outcome"] == "conflict"


def test_a_ledger_below_zero_gets_one_balancing_entry(export):
    ledger = [tx("t1", "e1", 20, "attendance", "2024-01-10"), tx("t2", "e1", -50, "redemption", "2024-01-11", "x")]
    migrate(export(ledger=ledger))
    e1 = CMEnrollment.objects.get(canonical_patient__last_name="Lee")
    last = e1.points_transactions.order_by("sequence").last()
    assert (last.event_type, last.points, e1.total_points) == ("manual_adjustment", 30, 0)
    assert "the old ledger sums to -30" in last.reason


def test_the_number_of_queries_does_not_grow_with_the_rows(export, tmp_path_factory):
    CMProgram.objects.create(name="Moonlit CM")

    def queries(n: int) -> int:
        folder = tmp_path_factory.mktemp(f"n{n}")
        patients = [
            {"id": f"q{i}", "first_name": "Pat", "last_name": f"N{n}x{i}", "date_of_birth": "1990-01-01",
             "email": f"p{n}x{i}@x.org", "phone": "", "intakeq_client_id": f"IQ{n}x{i}" if i % 2 else ""}
            for i in range(n)
        ]  # fmt: skip
        enrollments = [enrollment(f"f{i}", f"q{i}") for i in range(n)]
        ledger = [tx(f"t{i}", f"f{i}", 25, "attendance", "2024-01-10") for i in range(n)]
        write(folder, "patients.csv", patients)
        write(folder, "providers.csv", PROVIDERS)
        write(folder, "cm_patients.csv", enrollments)
        write(folder, "cm_points_transactions.csv", ledger)
        with CaptureQueriesContext(connection) as captured:
            migrate(folder)
        return len(captured)

    assert queries(3) == queries(40)


def test_the_command_prints_the_report_and_writes_the_csv(export, tmp_path):
    out = io.StringIO()
    call_command(
        "migrate_cm_patients", str(export()), "--program", "Moonlit CM", "--quiet", "--report",
        str(tmp_path / "r.csv"), stdout=out,
    )  # fmt: skip
    assert "cm_patients.csv conflict: totals differ from the ledger (1 rows)" in out.getvalue()
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "file,row,old_id,outcome,reason,new_id"
    assert len(lines) == 1 + 17


def test_as_names_an_unknown_login_clearly(export):
    with pytest.raises(CommandError, match="--as: no active login named 'nobody'"):
        call_command("migrate_cm_patients", str(export()), "--as", "nobody", stdout=io.StringIO())


def test_generated_exports_are_read_to_the_last_row_and_agree_with_cm_check_ledger(tmp_path):
    from bench.cm_csv import generate

    counts = generate(tmp_path, patients=80, ledger_per_enrollment=6, seed=3)
    report = execute(kind=ImportKind.CM_PATIENTS, files=ImportFiles.from_folder(tmp_path))
    assert report.count() == sum(counts.values())
    assert report.count(outcome="created") > 0 and report.count(outcome="skipped") > 0
    assert ledger_discrepancies() == []
    again = execute(kind=ImportKind.CM_PATIENTS, files=ImportFiles.from_folder(tmp_path))
    assert again.count(outcome="created") == 0


def test_a_later_export_updates_what_the_import_wrote_and_keeps_what_the_crm_edited(export):
    migrate(export())
    e1 = CMEnrollment.objects.get(canonical_patient__last_name="Lee")
    e2 = CMEnrollment.objects.get(canonical_patient__last_name="García")
    CMEnrollment.objects.filter(pk=e2.pk).update(notes="Edited by the CPSS")  # someone's edit in the CRM
    counts = [M.objects.count() for M in (Person, CanonicalPatient, CMPatient, CMEnrollment, CMPointsTransaction)]
    changed = [
        enrollment("e1", "p1", total=110, status="paused", medicaid_verification='{"verified": false}',
                   pod_assignment="B"),
        enrollment("e2", "p2", total=60, streak=1, notes="from the old system"),
        enrollment("e3", "p3"),
    ]  # fmt: skip

    report = migrate(export(enrollments=changed))

    assert [M.objects.count() for M in (Person, CanonicalPatient, CMPatient, CMEnrollment, CMPointsTransaction)] == (
        counts
    )
    e1.refresh_from_db()
    e2.refresh_from_db()
    assert (e1.status, e1.pod_assignment, e1.medicaid_verification) == ("paused", "B", {"verified": False})
    assert e2.notes == "Edited by the CPSS"
    assert outcomes(report, "cm_patients.csv") == {"updated": 1, "conflict": 1, "skipped": 1}
    # The status history: each enrollment's first row at its enrollment date, and the export's status change.
    from cm_program.models import EnrollmentStatusChange

    history = EnrollmentStatusChange.objects.filter(enrollment=e1).order_by("changed_at")
    assert [(h.from_status, h.to_status) for h in history] == [(None, "active"), ("active", "paused")]
    assert history[0].changed_at == e1.enrollment_date
    assert not EnrollmentStatusChange.objects.filter(enrollment=e2).exclude(from_status=None).exists()
    rows = rows_of(report)
    assert rows[("cm_patients.csv", "e1")]["reason"] == (
        "changed in the export: updated: medicaid_verification, pod_assignment, status"
    )
    assert rows[("cm_patients.csv", "e2")]["reason"].startswith(
        'edited in the CRM since the last import: the CRM\'s value is kept: notes: kept "Edited by the CPSS", '
        'the export has "from the old system" (changed in the CRM since the import); total_points: old 60, ledger 20'
    )
    assert report.count(outcome="created") == 0

    # The same export again: e1 now holds what the import wrote; e2's edit is still the CRM's.
    again = migrate(export(enrollments=changed))
    assert outcomes(again, "cm_patients.csv") == {"unchanged": 1, "conflict": 1, "skipped": 1}
    e2.refresh_from_db()
    assert e2.notes == "Edited by the CPSS"

    # The CRM puts e1's pod back by hand: the export's unchanged "B" does not overwrite it later.
    CMEnrollment.objects.filter(pk=e1.pk).update(pod_assignment="C")
    third = migrate(export(enrollments=changed))
    e1.refresh_from_db()
    assert e1.pod_assignment == "C"
    assert outcomes(third, "cm_patients.csv")["unchanged"] == 1


def test_a_status_that_becomes_active_at_a_full_caseload_is_kept(export):
    paused = [enrollment("e1", "p1", status="paused"), enrollment("e2", "p2", total=60, streak=1)]
    migrate(export(enrollments=paused, ledger=[tx("t4", "e2", 60, "attendance", "2024-02-06T10:00:00Z")]))
    CMProvider.objects.update(max_caseload=1)  # e2 is active with the CPSS: the caseload is full
    report = migrate(
        export(
            enrollments=[enrollment("e1", "p1"), enrollment("e2", "p2", total=60, streak=1)],
            ledger=[tx("t4", "e2", 60, "attendance", "2024-02-06T10:00:00Z")],
        )
    )
    e1 = CMEnrollment.objects.get(canonical_patient__last_name="Lee")
    assert e1.status == "paused"
    assert "(the CPSS is at capacity)" in rows_of(report)[("cm_patients.csv", "e1")]["reason"]


def test_a_later_export_updates_the_cm_profile_phone_the_import_wrote_and_keeps_an_edited_one(export):
    migrate(export())
    ann = CMPatient.objects.get(canonical_patient__last_name="Lee")
    jose = CMPatient.objects.get(canonical_patient__last_name="García")
    assert ann.phone == "+18015550101"
    CMPatient.objects.filter(pk=jose.pk).update(phone="+18015559999")  # corrected by a CPSS in the CRM
    patients = [dict(row) for row in PATIENTS]
    patients[0]["phone"] = "(801) 555-0111"
    patients[1]["phone"] = "801-555-0112"

    report = migrate(export(patients=patients))

    ann.refresh_from_db()
    jose.refresh_from_db()
    assert (ann.phone, jose.phone) == ("+18015550111", "+18015559999")
    rows = rows_of(report)
    assert (rows[("patients.csv", "p1")]["outcome"], rows[("patients.csv", "p1")]["reason"]) == (
        "updated",
        "changed in the export: updated: CM profile phone",
    )
    assert rows[("patients.csv", "p2")]["outcome"] == "conflict"
    assert "CM profile phone: kept +18015559999, the export has +18015550112" in rows[("patients.csv", "p2")]["reason"]
    # The Person's phone is identity: never changed by a later run.
    assert Person.objects.get(last_name="Lee").phone == "+18015550101"

    again = migrate(export(patients=patients))
    assert rows_of(again)[("patients.csv", "p1")]["outcome"] == "unchanged"
    assert rows_of(again)[("patients.csv", "p2")]["outcome"] == "conflict"
