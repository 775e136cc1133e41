"""The schema is the CM document's: tables, columns, defaults, CHECK lists, UNIQUE rules, and its SQL runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
)
from common.audit import record_history
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProviderFactory,
    IntakeQLinkFactory,
    IntakeQPatientFactory,
)

# Copied verbatim from the CM document ("Detect Dual Enrollment").
DETECT_DUAL_ENROLLMENT = """
-- Find patients enrolled in both systems
SELECT 
  pc.first_name,
  pc.last_name,
  pc.date_of_birth,
  CASE WHEN pil.intakeq_patient_id IS NOT NULL THEN 'Yes' ELSE 'No' END as has_intakeq,
  CASE WHEN pcm.id IS NOT NULL THEN 'Yes' ELSE 'No' END as has_cm
FROM patients_canonical pc
LEFT JOIN patients_intakeq_link pil ON pc.id = pil.canonical_patient_id
LEFT JOIN patients_cm pcm ON pc.id = pcm.canonical_patient_id
WHERE pil.intakeq_patient_id IS NOT NULL AND pcm.id IS NOT NULL;
"""  # noqa: W291 (the document's trailing space after SELECT is kept: verbatim)

# The document's columns, table by table (its CREATE TABLE statements).
DOCUMENT_COLUMNS = {
    "patients_canonical": {"id", "first_name", "last_name", "date_of_birth", "created_at", "updated_at"},
    "patients_cm": {
        "id",
        "canonical_patient_id",
        "phone",
        "email",
        "insurance_primary",
        "medicaid_id",
        "enrollment_source",
        "consent_date",
        "smartphone_access",
        "emergency_contact_name",
        "emergency_contact_phone",
        "address_street",
        "address_city",
        "address_state",
        "address_zip",
        "preferred_language",
        "status",
        "created_at",
        "updated_at",
    },
    "patients_intakeq_link": {
        "id",
        "canonical_patient_id",
        "intakeq_patient_id",
        "linked_date",
        "linked_by",
        "confidence_score",
        "notes",
    },
    "providers_cm": {
        "id",
        "canonical_provider_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "role",
        "credentials",
        "hire_date",
        "status",
        "max_caseload",
        "created_at",
        "updated_at",
    },
    "cm_enrollments": {
        "id",
        "canonical_patient_id",
        "cm_patient_id",
        "cm_program_id",
        "cpss_provider_id",
        "total_points",
        "current_streak",
        "enrollment_date",
        "status",
        "medicaid_verification",
        "pod_assignment",
        "notes",
        "created_at",
        "updated_at",
    },
}


def _columns(table: str) -> dict[str, tuple[str, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, column_default FROM information_schema.columns WHERE table_name = %s",
            [table],
        )
        return {name: (data_type, default) for name, data_type, default in cursor.fetchall()}


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(DOCUMENT_COLUMNS))
def test_every_document_column_exists_with_the_document_type(table):
    columns = _columns(table)
    assert DOCUMENT_COLUMNS[table] <= set(columns), DOCUMENT_COLUMNS[table] - set(columns)
    types = {name: data_type for name, (data_type, _) in columns.items()}
    assert types["id"] == "uuid"
    uuid_columns = {
        "canonical_patient_id",
        "cm_patient_id",
        "cm_program_id",
        "cpss_provider_id",
        "intakeq_patient_id",
        "linked_by",
        "canonical_provider_id",
    }
    assert {c: types[c] for c in DOCUMENT_COLUMNS[table] & uuid_columns} == dict.fromkeys(
        DOCUMENT_COLUMNS[table] & uuid_columns, "uuid"
    )
    if "created_at" in DOCUMENT_COLUMNS[table]:
        assert types["created_at"] == types["updated_at"] == "timestamp with time zone"
    if table == "patients_intakeq_link":
        assert types["confidence_score"] == "numeric"
    if table == "cm_enrollments":
        assert types["medicaid_verification"] == "jsonb"
        assert types["total_points"] == types["current_streak"] == "integer"


@pytest.mark.django_db
def test_the_other_tables_exist():
    for table in ("patients", "contingency_management", "cm_points_transactions"):
        assert _columns(table), table
    assert {"intakeq_client_id", "first_name", "last_name", "date_of_birth", "email", "phone"} <= set(
        _columns("patients")
    )


def _insert(sql: str, params=()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@pytest.mark.django_db
def test_raw_sql_inserts_get_the_document_defaults():
    """The document's SQL leaves ids, timestamps and statuses to the database: so do these inserts."""
    canonical_id, created_at = _insert(
        "INSERT INTO patients_canonical (first_name, last_name, date_of_birth) "
        "VALUES ('Jessica', 'Martinez', '1992-03-22') RETURNING id, created_at"
    )
    assert canonical_id and created_at
    cm_row = _insert(
        "INSERT INTO patients_cm (canonical_patient_id, phone, enrollment_source, smartphone_access) "
        "VALUES (%s, '(801) 555-0123', 'acute_care', 'yes') "
        "RETURNING id, address_state, preferred_language, status",
        [canonical_id],
    )
    assert cm_row[1:] == ("UT", "English", "active")
    provider = _insert(
        "INSERT INTO providers_cm (first_name, last_name, email) VALUES ('Casey', 'Peer', 'casey@x.org') "
        "RETURNING id, role, status, max_caseload"
    )
    assert provider[1:] == ("cpss", "active", 30)
    program = _insert(
        "INSERT INTO contingency_management (name) VALUES ('Raw program') "
        "RETURNING id, is_active, points_group_attendance, points_negative_test_base, points_enrollment_bonus"
    )
    assert program[1:] == (True, 25, 50, 25)
    enrollment = _insert(
        "INSERT INTO cm_enrollments (canonical_patient_id, cm_patient_id, cm_program_id, cpss_provider_id) "
        "VALUES (%s, %s, %s, %s) RETURNING total_points, current_streak, status, enrollment_date",
        [canonical_id, cm_row[0], program[0], provider[0]],
    )
    assert enrollment[:3] == (0, 0, "active") and enrollment[3] is not None
    intakeq_id = _insert(
        "INSERT INTO patients (first_name, last_name, date_of_birth) VALUES ('Jessica', 'Martinez', '1992-03-22') "
        "RETURNING id"
    )[0]
    link = _insert(
        "INSERT INTO patients_intakeq_link (canonical_patient_id, intakeq_patient_id) VALUES (%s, %s) "
        "RETURNING confidence_score, linked_date",
        [canonical_id, intakeq_id],
    )
    assert link[0] == Decimal("1.00") and link[1] is not None

    with connection.cursor() as cursor:
        cursor.execute(DETECT_DUAL_ENROLLMENT)
        rows = cursor.fetchall()
    assert rows == [("Jessica", "Martinez", dt.date(1992, 3, 22), "Yes", "Yes")]


@pytest.mark.django_db
def test_document_dual_enrollment_sql_runs_unchanged(program, cpss):
    dual = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(first_name="John", last_name="Smith", date_of_birth="1985-06-15"),
        program=program,
        cpss_provider=cpss,
    )
    services.cm_patient_enroll_new(
        first_name="Jessica", last_name="Martinez", date_of_birth="1992-03-22", program=program, cpss_provider=cpss
    )
    # IntakeQ only: linked, but no CM record.
    only_intakeq = services.canonical_patient_find_or_create(
        first_name="Tom", last_name="Whitaker", date_of_birth="1969-08-30"
    ).canonical_patient
    services.intakeq_link_create(
        canonical_patient=only_intakeq,
        intakeq_patient=IntakeQPatientFactory(first_name="Tom", last_name="Whitaker", date_of_birth="1969-08-30"),
    )
    assert dual.canonical_patient.first_name == "John"

    with connection.cursor() as cursor:
        cursor.execute(DETECT_DUAL_ENROLLMENT)
        rows = cursor.fetchall()
    assert rows == [("John", "Smith", dt.date(1985, 6, 15), "Yes", "Yes")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "last"),
    [("José ", "Hernández"), ("jose", "hernandez"), ("  JOSE", "HERNANDEZ  "), ("Jose", "Hernandez")],
)
def test_database_refuses_a_second_canonical_patient_differing_in_case_accents_or_spaces(first, last):
    CanonicalPatient.objects.create(first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14))
    with pytest.raises(IntegrityError, match="patients_canonical_identity_uniq"), transaction.atomic():
        # bulk_create: no service, no Python validation; only the index stands in the way.
        CanonicalPatient.objects.bulk_create(
            [CanonicalPatient(first_name=first, last_name=last, date_of_birth=dt.date(1987, 9, 14))]
        )
    assert CanonicalPatient.objects.count() == 1


@pytest.mark.django_db
def test_same_name_other_birthday_is_another_patient():
    CanonicalPatient.objects.create(first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14))
    CanonicalPatient.objects.create(first_name="Jose", last_name="Hernandez", date_of_birth=dt.date(1987, 9, 15))
    assert CanonicalPatient.objects.count() == 2


def _refused(sql: str, params=(), *, constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_check_lists_are_enforced_by_the_database():
    canonical = CanonicalPatientFactory()
    other = CanonicalPatientFactory()
    _refused(
        "INSERT INTO patients_cm (canonical_patient_id, smartphone_access) VALUES (%s, 'sometimes')",
        [canonical.pk],
        constraint="patients_cm_smartphone_access_check",
    )
    _refused(
        "INSERT INTO patients_cm (canonical_patient_id, status) VALUES (%s, 'deleted')",
        [canonical.pk],
        constraint="patients_cm_status_check",
    )
    _refused(
        "INSERT INTO patients_cm (canonical_patient_id, enrollment_source) VALUES (%s, 'walk_in')",
        [canonical.pk],
        constraint="patients_cm_enrollment_source_check",
    )
    _refused("INSERT INTO providers_cm (first_name, last_name, role) VALUES ('A', 'B', 'peer')", constraint="role")
    _refused(
        "INSERT INTO providers_cm (first_name, last_name, status) VALUES ('A', 'B', 'retired')",
        constraint="providers_cm_status_check",
    )
    for score in ("1.01", "-0.01"):
        _refused(
            "INSERT INTO patients_intakeq_link (canonical_patient_id, intakeq_patient_id, confidence_score) "
            "VALUES (%s, %s, %s)",
            [other.pk, IntakeQPatientFactory().pk, score],
            constraint="patients_intakeq_link_confidence_range",
        )
    enrollment = CMEnrollmentFactory()
    _refused(
        "UPDATE cm_enrollments SET status = 'finished' WHERE id = %s",
        [enrollment.pk],
        constraint="cm_enrollments_status_check",
    )
    # Every value of the document's lists is accepted.
    for value in ("yes", "limited", "no"):
        CMPatient.objects.filter(pk=enrollment.cm_patient_id).update(smartphone_access=value)
    for value in ("acute_care", "outpatient", "referral", "existing_patient"):
        CMPatient.objects.filter(pk=enrollment.cm_patient_id).update(enrollment_source=value)
    for value in ("active", "paused", "graduated", "withdrawn"):
        CMEnrollment.objects.filter(pk=enrollment.pk).update(status=value)
    for value in ("cpss", "supervisor", "admin"):
        CMProvider.objects.filter(pk=enrollment.cpss_provider_id).update(role=value)


@pytest.mark.django_db
def test_unique_rules_of_the_document():
    profile = CMPatientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CMPatient.objects.create(canonical_patient=profile.canonical_patient)  # UNIQUE(canonical_patient_id)

    link = IntakeQLinkFactory()
    with pytest.raises(IntegrityError), transaction.atomic():  # UNIQUE(canonical_patient_id)
        IntakeQLink.objects.create(canonical_patient=link.canonical_patient, intakeq_patient=IntakeQPatientFactory())
    with pytest.raises(IntegrityError), transaction.atomic():  # UNIQUE(intakeq_patient_id)
        IntakeQLink.objects.create(canonical_patient=CanonicalPatientFactory(), intakeq_patient=link.intakeq_patient)

    enrollment = CMEnrollmentFactory()
    duplicate = "cm_enrollments_canonical_patient_id_cm_program_id_key"  # UNIQUE(canonical_patient_id, cm_program_id)
    with pytest.raises(IntegrityError, match=duplicate), transaction.atomic():
        CMEnrollment.objects.create(
            canonical_patient=enrollment.canonical_patient,
            cm_patient=enrollment.cm_patient,
            cm_program=enrollment.cm_program,
        )

    CMProviderFactory(email="casey@x.org")
    with pytest.raises(IntegrityError), transaction.atomic():  # email TEXT UNIQUE
        CMProvider.objects.create(first_name="C", last_name="P", email=" Casey@X.org ")
    assert (CMPatient.objects.count(), IntakeQLink.objects.count(), CMEnrollment.objects.count()) == (2, 1, 1)


@pytest.mark.django_db
def test_program_schedule_values_are_checked_by_the_database():
    with pytest.raises(IntegrityError, match="cap_not_below_base"), transaction.atomic():
        CMProgram.objects.create(name="Bad cap", points_negative_test_base=50, points_negative_test_cap=40)
    with pytest.raises(IntegrityError, match="points_not_negative"), transaction.atomic():
        CMProgram.objects.create(name="Negative", points_group_attendance=-5)


@pytest.mark.django_db
def test_negative_test_schedule_escalates_and_caps():
    program = CMProgram(points_negative_test_base=50, points_negative_test_increment=10, points_negative_test_cap=80)
    assert [program.negative_test_points(streak_before=n) for n in range(6)] == [50, 60, 70, 80, 80, 80]


@pytest.mark.django_db
def test_points_ledger_refuses_update_and_delete_in_the_database(program, cpss):
    enrollment = services.cm_patient_enroll_new(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    ).enrollment
    entry = CMPointsTransaction.objects.get(enrollment=enrollment)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CMPointsTransaction.objects.filter(pk=entry.pk).update(points=1000)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CMPointsTransaction.objects.filter(pk=entry.pk).delete()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM cm_points_transactions")
    entry.refresh_from_db()
    assert (entry.points, CMPointsTransaction.objects.count()) == (25, 1)


@pytest.mark.django_db
def test_points_ledger_refuses_truncate_in_the_database(program, cpss):
    # TRUNCATE fires no row-level trigger: only a statement-level one stops it emptying the ledger.
    services.cm_patient_enroll_new(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    )
    with connection.cursor() as cursor:  # the test's open transaction still holds deferred FK checks
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="cannot be truncated"), transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE cm_points_transactions")
    with pytest.raises(IntegrityError, match="cannot be truncated"), transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE cm_points_transactions, cm_enrollments CASCADE")
    assert CMPointsTransaction.objects.count() == 1


@pytest.mark.django_db
def test_every_cm_table_but_the_ledger_has_an_audit_trail(program, cpss, superuser):
    result = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(), program=program, cpss_provider=cpss, actor=superuser
    )
    tracked = [
        result.canonical_patient,
        result.cm_patient,
        result.intakeq_link,
        result.intakeq_link.intakeq_patient,
        result.enrollment,
        program,
        cpss,
    ]
    for obj in tracked:
        history = record_history(obj)
        assert history and history[0].action == "insert", obj
    inserted_by_service = [result.canonical_patient, result.cm_patient, result.intakeq_link, result.enrollment]
    assert all(record_history(obj)[0].username == "root" for obj in inserted_by_service)
    assert not hasattr(CMPointsTransaction, "pgh_event_model")
