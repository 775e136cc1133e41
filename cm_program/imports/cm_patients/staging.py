"""The input contract of ``migrate_cm_patients`` and the staging of each file.

Each CSV file is read as a stream, each row checked and normalised in Python (names, dates, email,
phone, numbers: a bad value becomes the row's ``problem``, reported and not migrated, never an
exception), and copied with ``COPY`` into a TEMP staging table of its own. Everything after that is
set-based SQL over the staging tables (``identities.py``, ``enrollments.py``), so memory stays flat
whatever the size of the files, and the number of queries does not grow with the rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cm_program.models import CMStatus, PointsEvent
from cm_program.services._common import OLDEST_DATE_OF_BIRTH
from common.imports.files import ImportFiles, read_csv
from common.validation import check_text
from people.normalize import clean_email, normalize_phone

PATIENTS = "patients.csv"
PROVIDERS = "providers.csv"
ENROLLMENTS = "cm_patients.csv"
LEDGER = "cm_points_transactions.csv"
PROGRAMS = "contingency_management.csv"

# The contract (issue 11, part 2): every column must be present; extra ones are ignored.
COLUMNS: dict[str, list[str]] = {
    PATIENTS: ["id", "first_name", "last_name", "date_of_birth", "email", "phone", "intakeq_client_id"],
    PROVIDERS: ["id", "first_name", "last_name", "email", "phone"],
    ENROLLMENTS: [
        "id",
        "patient_id",
        "cm_program_id",
        "cpss_provider_id",
        "total_points",
        "current_streak",
        "enrollment_date",
        "status",
        "medicaid_verification",
        "pod_assignment",
        "notes",
    ],
    LEDGER: ["id", "cm_patient_id", "points", "transaction_type", "description", "created_at"],
    PROGRAMS: ["id", "name"],
}
REQUIRED_FILES = (PATIENTS, PROVIDERS, ENROLLMENTS, LEDGER)

# Old ``transaction_type`` values -> ledger event types. Anything else becomes a manual adjustment that
# carries the old type and description (a reason is required for those). Compared lower-case, with
# spaces and dashes read as underscores.
EVENT_TYPES: dict[str, str] = {
    "group_attendance": PointsEvent.GROUP_ATTENDANCE,
    "attendance": PointsEvent.GROUP_ATTENDANCE,
    "group": PointsEvent.GROUP_ATTENDANCE,
    "test_negative": PointsEvent.TEST_NEGATIVE,
    "negative_test": PointsEvent.TEST_NEGATIVE,
    "negative_uds": PointsEvent.TEST_NEGATIVE,
    "uds_negative": PointsEvent.TEST_NEGATIVE,
    "test_positive": PointsEvent.TEST_POSITIVE,
    "positive_test": PointsEvent.TEST_POSITIVE,
    "uds_positive": PointsEvent.TEST_POSITIVE,
    "test_missed": PointsEvent.TEST_MISSED,
    "missed_test": PointsEvent.TEST_MISSED,
    "weekly_checkin": PointsEvent.WEEKLY_CHECKIN,
    "checkin": PointsEvent.WEEKLY_CHECKIN,
    "check_in": PointsEvent.WEEKLY_CHECKIN,
    "peer_support": PointsEvent.PEER_SUPPORT,
    "enrollment_bonus": PointsEvent.ENROLLMENT_BONUS,
    "bonus": PointsEvent.ENROLLMENT_BONUS,
    "manual_adjustment": PointsEvent.MANUAL_ADJUSTMENT,
    "adjustment": PointsEvent.MANUAL_ADJUSTMENT,
}

# Old enrollment statuses that are not the CM document's, and what they mean in its list.
STATUS_ALIASES = {"completed": CMStatus.GRADUATED, "discharged": CMStatus.WITHDRAWN, "dropped": CMStatus.WITHDRAWN}

# Staging tables: (name, columns). The common tail (problem, warning, outcome, ...) is added below.
_TAIL = "problem text, warning text, dup_of int, outcome text, reason text, detail text, new_id uuid"
STAGING = {
    "s_program": "line int, old_id text, name text, program_id uuid, created bool DEFAULT false",
    "s_provider": (
        "line int, old_id text, first_name text, last_name text, email text, phone text, referenced bool DEFAULT false,"
        " mapped bool DEFAULT false, provider_id uuid, created bool DEFAULT false"
    ),
    "s_patient": (
        "line int, old_id text, first_name text, last_name text, dob date, email text, phone text, phone_raw text,"
        " client_id text, kf text, kl text, enrolled bool DEFAULT false, mapped_target text, mapped bool DEFAULT false,"
        " email_person uuid, canonical_id uuid, canonical_created bool DEFAULT false, person_id uuid,"
        " person_created bool DEFAULT false, profile_id uuid, profile_created bool DEFAULT false, mirror_id uuid,"
        " mirror_created bool DEFAULT false, link_created bool DEFAULT false, written_before jsonb, written jsonb,"
        " profile_updated bool DEFAULT false"
    ),
    "s_enrollment": (
        "line int, old_id text, patient_old_id text, program_old_id text, cpss_old_id text, old_total int,"
        " old_streak int, enrollment_date timestamptz, status text, medicaid jsonb, pod text, notes text,"
        " program_id uuid, provider_id uuid, canonical_id uuid, profile_id uuid, mapped bool DEFAULT false,"
        " enrollment_id uuid, created bool DEFAULT false, merged_into int, matched_existing bool DEFAULT false,"
        " new_total int, new_streak int, written_before jsonb, written jsonb, updated_fields text, kept text"
    ),
    "s_ledger": (
        "line int, old_id text, enrollment_old_id text, points int, event_type text, entry_reason text,"
        " occurred_at timestamptz, enrollment_id uuid, canonical_id uuid, mapped bool DEFAULT false"
    ),
}
STAGED_COLUMNS = {
    "s_program": ["line", "old_id", "name", "problem", "detail"],
    "s_provider": ["line", "old_id", "first_name", "last_name", "email", "phone", "problem", "warning", "detail"],
    "s_patient": [
        "line",
        "old_id",
        "first_name",
        "last_name",
        "dob",
        "email",
        "phone",
        "phone_raw",
        "client_id",
        "problem",
        "warning",
        "detail",
    ],
    "s_enrollment": [
        "line",
        "old_id",
        "patient_old_id",
        "program_old_id",
        "cpss_old_id",
        "old_total",
        "old_streak",
        "enrollment_date",
        "status",
        "medicaid",
        "pod",
        "notes",
        "problem",
        "warning",
        "detail",
    ],
    "s_ledger": [
        "line",
        "old_id",
        "enrollment_old_id",
        "points",
        "event_type",
        "entry_reason",
        "occurred_at",
        "problem",
        "detail",
    ],
}


def create_staging_tables() -> None:
    """TEMP tables dropped at the end of the transaction (a dry run's rollback drops them too)."""
    with connection.cursor() as cursor:
        for table, columns in STAGING.items():
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TEMP TABLE {table} ({columns}, {_TAIL}) ON COMMIT DROP")


class RowProblem(Exception):
    """A value of one row that cannot be migrated: ``reason`` is what the report counts, ``detail`` the
    row's own value (kept apart so that a million bad dates make one reason, not a million)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _first_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(m for messages in exc.message_dict.values() for m in messages)
    return "; ".join(exc.messages)


# A fast first look for the characters ``check_text`` refuses (tab and line breaks included): most values
# have none, and the full check (which names the character) runs only for those that do.
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(value: str, *, field: str, multiline: bool = False) -> str | None:
    if not value:
        return None
    if _SUSPECT.search(value) is None:
        return value
    try:
        check_text(value, field=field, multiline=multiline)
    except ValidationError as exc:
        raise RowProblem(f"{field}: {_first_message(exc)}") from None
    return value or None


def _name(value: str, *, field: str) -> str:
    if not value:
        raise RowProblem(f"no {field.replace('_', ' ')}")
    return _text(value, field=field)


def _date_of_birth(value: str) -> dt.date:
    if not value:
        raise RowProblem("no date of birth: cannot get a canonical identity; not migrated")
    try:
        parsed = dt.date.fromisoformat(value[:10])
    except ValueError:
        raise RowProblem("date_of_birth is not a date (YYYY-MM-DD)", value) from None
    if parsed > timezone.localdate():
        raise RowProblem("date_of_birth is in the future", value)
    if parsed < OLDEST_DATE_OF_BIRTH:
        raise RowProblem(f"date_of_birth is before {OLDEST_DATE_OF_BIRTH:%Y}", value)
    return parsed


_latest: dt.datetime | None = None  # "now", plus a minute of clock skew: set once per staged file


def _moment(value: str, *, field: str) -> dt.datetime:
    """An ISO date or date-time (Supabase exports ``2024-03-05 14:22:01.123+00``); naive ones are local."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RowProblem(f"{field} is not a date and time (ISO 8601)", value) from None
    if parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed)
    if parsed > (_latest or timezone.now() + dt.timedelta(minutes=1)):
        raise RowProblem(f"{field} is in the future", value)
    return parsed


def _whole(value: str, *, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RowProblem(f"{field} is not a whole number", value) from None


def _email(value: str, warnings: list[str]) -> str | None:
    try:
        return clean_email(value)
    except ValidationError:
        warnings.append(f"email '{value}' is not a valid address: not kept")
        return None


def _phone(value: str) -> str | None:
    try:
        return normalize_phone(value) or None
    except ValidationError:
        return None


def _uuid(value: str, *, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise RowProblem(f"{field} is not a UUID", value) from None


def _program_row(line: int, row: dict) -> tuple:
    name = row["name"]
    if not row["id"]:
        raise RowProblem("no id")
    return (line, row["id"], _name(name, field="name"), None, None)


def _provider_row(line: int, row: dict) -> tuple:
    if not row["id"]:
        raise RowProblem("no id")
    warnings: list[str] = []
    old_id = _uuid(row["id"], field="id")  # it becomes canonical_provider_id, a UUID
    first, last = _name(row["first_name"], field="first_name"), _name(row["last_name"], field="last_name")
    email = _email(row["email"], warnings)
    phone = _phone(_text(row["phone"], field="phone") or "")
    if row["phone"] and phone is None:
        warnings.append(f"phone '{row['phone']}' is not a phone number: not kept")
    return (line, old_id, first, last, email, phone, None, "; ".join(warnings) or None, None)


def _patient_row(line: int, row: dict) -> tuple:
    if not row["id"]:
        raise RowProblem("no id")
    warnings: list[str] = []
    first, last = _name(row["first_name"], field="first_name"), _name(row["last_name"], field="last_name")
    dob = _date_of_birth(row["date_of_birth"])
    email = _email(row["email"], warnings)
    raw_phone = _text(row["phone"], field="phone")
    client_id = _text(row["intakeq_client_id"], field="intakeq_client_id")
    return (
        line,
        row["id"],
        first,
        last,
        dob,
        email,
        _phone(raw_phone or ""),
        raw_phone,
        client_id,
        None,
        "; ".join(warnings) or None,
        None,
    )


def _enrollment_row(line: int, row: dict) -> tuple:
    if not row["id"]:
        raise RowProblem("no id")
    if not row["patient_id"]:
        raise RowProblem("no patient_id")
    warnings: list[str] = []
    status = (row["status"] or CMStatus.ACTIVE).lower()
    status = STATUS_ALIASES.get(status, status)
    if status not in CMStatus.values:
        raise RowProblem(f"status is not one of: {', '.join(CMStatus.values)}", row["status"])
    when = _moment(row["enrollment_date"], field="enrollment_date") if row["enrollment_date"] else None
    old_total = _whole(row["total_points"], field="total_points") if row["total_points"] else 0
    old_streak = _whole(row["current_streak"], field="current_streak") if row["current_streak"] else 0
    medicaid = None
    if row["medicaid_verification"]:
        try:
            medicaid = json.loads(row["medicaid_verification"])
        except ValueError:
            medicaid = None
        if not isinstance(medicaid, dict):
            medicaid = {"imported_text": row["medicaid_verification"]}
            warnings.append("medicaid_verification is not a JSON object: kept as imported_text")
    return (
        line,
        row["id"],
        row["patient_id"],
        row["cm_program_id"],
        row["cpss_provider_id"],
        old_total,
        old_streak,
        when,
        status,
        None if medicaid is None else json.dumps(medicaid),
        _text(row["pod_assignment"], field="pod_assignment"),
        _text(row["notes"], field="notes", multiline=True),
        None,
        "; ".join(warnings) or None,
        None,
    )


# A ledger entry's id is a function of its old id (``ledger_entry_id``, computed in SQL as ``LEDGER_ENTRY_ID``):
# a second run finds the entry by its primary key, so the 100,000s of entries need no rows in the mapping
# table (the other files' rows have them).
LEDGER_ID_PREFIX = "cm_patients:cm_points_transactions:"
LEDGER_ENTRY_ID = f"md5('{LEDGER_ID_PREFIX}' || {{0}})::uuid"


def ledger_entry_id(old_id: str) -> str:
    """The ``cm_points_transactions.id`` of the old transaction ``old_id`` (the same in every run)."""
    return str(uuid.UUID(hashlib.md5((LEDGER_ID_PREFIX + old_id).encode()).hexdigest()))


def _ledger_row(line: int, row: dict) -> tuple:
    if not row["id"]:
        raise RowProblem("no id")
    if not row["cm_patient_id"]:
        raise RowProblem("no cm_patient_id")
    if not row["points"]:
        raise RowProblem("no points")
    points = _whole(row["points"], field="points")
    if not row["created_at"]:
        raise RowProblem("no created_at: the entry cannot be placed in the ledger's order")
    occurred_at = _moment(row["created_at"], field="created_at")
    description = _text(row["description"], field="description", multiline=True) or ""
    old_type = _text(row["transaction_type"], field="transaction_type") or ""
    event_type = EVENT_TYPES.get(old_type) or EVENT_TYPES.get(old_type.lower().replace(" ", "_").replace("-", "_"))
    if event_type is None or event_type == PointsEvent.MANUAL_ADJUSTMENT:
        if points == 0:
            raise RowProblem("a zero-point entry of an unknown or adjustment type changes nothing", old_type)
        event_type = PointsEvent.MANUAL_ADJUSTMENT
        label = f"(old type: {old_type or 'none'})"
        description = f"{description} {label}" if description else f"Imported entry {label}"
    return (line, row["id"], row["cm_patient_id"], points, event_type, description, occurred_at, None, None)


PARSERS = {
    PROGRAMS: ("s_program", _program_row),
    PROVIDERS: ("s_provider", _provider_row),
    PATIENTS: ("s_patient", _patient_row),
    ENROLLMENTS: ("s_enrollment", _enrollment_row),
    LEDGER: ("s_ledger", _ledger_row),
}


def stage_file(files: ImportFiles, name: str, on_row=None) -> int:
    """COPY every row of ``name`` into its staging table; a bad row is staged with its ``problem``.
    Returns the number of rows."""
    table, parse = PARSERS[name]
    columns = STAGED_COLUMNS[table]
    problem_at = columns.index("problem")
    count = 0
    global _latest
    _latest = timezone.now() + dt.timedelta(minutes=1)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for line, row in read_csv(files, name, required=COLUMNS[name]):
            try:
                values = parse(line, row)
            except RowProblem as exc:
                values = [None] * len(columns)
                values[0], values[1] = line, row.get("id", "")
                values[problem_at] = exc.reason
                values[-1] = exc.detail or None
            copy.write_row(values)
            count += 1
            if on_row is not None and count % 5000 == 0:
                on_row(5000)
    if on_row is not None:
        on_row(count % 5000)
    with connection.cursor() as cursor:
        # Real row counts for the planner (a TEMP table has no statistics until analysed).
        cursor.execute(f"ANALYZE {table}")
    return count


def check_headers(files: ImportFiles, names: list[str]) -> None:
    """Every file present, and every column of the contract in each, before anything is written."""
    for name in names:
        for _ in read_csv(files, name, required=COLUMNS[name]):
            break
