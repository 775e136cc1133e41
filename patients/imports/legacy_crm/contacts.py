"""contact.csv -> staging: each row's cells checked in Python, then ``COPY`` a batch at a time.

The contact type decides the role: ``patient - lead`` -> a Patient Lead, ``physician`` -> a Physician
(with its hospital), anything else -> a Person only (reported). The rows become Persons in
``persons.py``, leads in ``leads.py``, physicians in ``physicians.py``, bookings in ``calls.py``.
"""

from __future__ import annotations

from common.imports.files import ImportFiles, batched, read_csv
from patients.imports.legacy_crm._staging import BATCH, OUTCOME_COLUMNS, copy_rows, create_table, sql
from patients.imports.legacy_crm._values import (
    BadValue,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_email,
    parse_phone,
)
from patients.imports.legacy_crm.conditions import Conditions

FILE = "contact.csv"
COLUMNS = [
    "contactid",
    "firstname",
    "lastname",
    "email",
    "medical_condition",
    "contact_type",
    "booking_date",
    "reminder_date",
    "no_show",
    "hospital",
    "job_title",
    "medical_license_number",
]
KINDS = {"patient - lead": "lead", "physician": "physician"}
_LIMITS = {"firstname": 150, "lastname": 150, "hospital": 200, "job_title": 150, "medical_license_number": 50}

TABLE = f"""
    line integer PRIMARY KEY,
    old_id text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    phone text NOT NULL,
    phone_raw text NOT NULL,
    condition_text text NOT NULL,
    condition_id uuid,
    contact_type text NOT NULL,
    kind text NOT NULL,
    booking timestamptz,
    reminder date,
    no_show boolean NOT NULL,
    hospital text NOT NULL,
    job_title text NOT NULL,
    license text NOT NULL,
    pkey text,
    person_id uuid,
    call_id uuid,
    call_new boolean NOT NULL DEFAULT false,
    call_mapped boolean NOT NULL DEFAULT false,
    call_updated boolean NOT NULL DEFAULT false,
    role_id uuid,
    role_new boolean NOT NULL DEFAULT false,
    role_mapped boolean NOT NULL DEFAULT false,
    {OUTCOME_COLUMNS}
"""
_COPY = [
    "line",
    "old_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_raw",
    "condition_text",
    "condition_id",
    "contact_type",
    "kind",
    "booking",
    "reminder",
    "no_show",
    "hospital",
    "job_title",
    "license",
    "skip",
    "reasons",
    "notes",
    "pkey",
]


def _row(line: int, row: dict[str, str], region: str, conditions: Conditions) -> tuple:
    skip = None
    reasons: list[str] = []
    notes: list[str] = []
    booking = reminder = None
    no_show = False
    email = None
    try:
        for column, limit in _LIMITS.items():
            if len(row[column]) > limit:
                raise BadValue(f"{column} longer than {limit} characters")
        if not row["contactid"]:
            raise BadValue("no contactid")
        if not row["firstname"] and not row["lastname"]:
            raise BadValue("no firstname or lastname")
        email = parse_email(row["email"])
        booking = parse_datetime(row["booking_date"], "booking_date")
        reminder = parse_date(row["reminder_date"], "reminder_date")
        no_show = bool(parse_bool(row["no_show"], "no_show"))
    except BadValue as exc:
        skip = str(exc)
    raw_phone = row.get("phone", "")
    phone = parse_phone(raw_phone, region)
    if phone is None:
        phone = ""
        reasons.append(
            "phone does not parse: kept in the lead's notes" if _kind(row) == "lead" else "phone does not parse"
        )
    else:
        raw_phone = ""
    contact_type = row["contact_type"]
    kind = _kind(row)
    if kind == "other" and skip is None:
        notes.append(f"contact type '{contact_type[:40]}' imported as a Person only")
    return (
        line,
        row["contactid"],
        row["firstname"],
        row["lastname"],
        email,
        phone,
        raw_phone,
        row["medical_condition"],
        # A text the lookup does not know yet gets its new condition in conditions.resolve_option_texts.
        conditions.find(row["medical_condition"]),
        contact_type,
        kind,
        booking,
        reminder,
        no_show,
        row["hospital"],
        row["job_title"],
        row["medical_license_number"],
        skip,
        reasons,
        notes,
        # The identity key: the normalised email, else the row itself (a space never occurs in an email).
        email or f"contact {row['contactid']}",
    )


def _kind(row: dict[str, str]) -> str:
    return KINDS.get(" ".join(row["contact_type"].lower().split()), "other")


def stage_contacts(*, files: ImportFiles, region: str, conditions: Conditions, progress) -> None:
    create_table("stg_contact", TABLE)
    for batch in batched(read_csv(files, FILE, required=COLUMNS), BATCH):
        copy_rows("stg_contact", _COPY, (_row(line, row, region, conditions) for line, row in batch))
        progress(len(batch))
    sql("CREATE INDEX ON stg_contact (old_id)")
    # A contactid seen on an earlier line: the later row is the same old record twice.
    sql(
        """
        UPDATE stg_contact c SET skip = 'duplicate contactid (an earlier row has it)'
        FROM stg_contact e WHERE e.old_id = c.old_id AND e.line < c.line AND c.skip IS NULL
        """
    )
    sql("CREATE INDEX ON stg_contact (pkey)")
    # Statistics of the columns the later statements join and filter on (not of the names, notes, ...).
    sql("ANALYZE stg_contact (line, old_id, pkey, email, kind, skip)")
