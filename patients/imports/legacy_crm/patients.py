"""patient.csv -> staging, then Patients (one per Person), converting the leads they point at.

A patient row is the same human as the contact its ``contact_record`` names (even when that contact
has no email, or another one: the contact's is kept and the difference reported); without a usable
``contact_record`` it is matched by normalised email like any other row. Its condition is the lookup
id's; where the linked contact's option-set text names another condition, the lookup wins and the
row reports the conflict. ``first_contact_date`` is kept, and is also when the patient was created
(reports over past periods count it then).
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from common.imports.files import ImportFiles, batched, read_csv
from patients.imports.legacy_crm._staging import (
    BATCH,
    OUTCOME_COLUMNS,
    SOURCE,
    apply_updates,
    copy_rows,
    create_table,
    mapped_join,
    sql,
)
from patients.imports.legacy_crm._values import BadValue, midnight, parse_bool, parse_date, parse_email
from patients.imports.legacy_crm.conditions import Conditions
from patients.imports.legacy_crm.persons import report_patient_differences

FILE = "patient.csv"
COLUMNS = [
    "patientid",
    "firstname",
    "lastname",
    "email",
    "contact_record",
    "medical_condition",
    "first_contact_date",
    "initial_consult_date",
    "trial_id",
    "ct_referral_date",
    "eligible",
    "ineligible_reason",
    "ct_outcome",
]
NCT = re.compile(r"^NCT[0-9]{8}$")

TABLE = f"""
    line integer PRIMARY KEY,
    old_id text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    contact_record text NOT NULL,
    condition_id uuid,
    first_contact date,
    consult date,
    created_at timestamptz NOT NULL,
    trial_id text NOT NULL,
    trial_name text NOT NULL,
    referral date,
    eligible boolean,
    ineligible_reason text NOT NULL,
    ct_outcome text NOT NULL,
    journey_name text NOT NULL,
    journey_notes text NOT NULL,
    pkey text,
    contact_line integer,
    person_id uuid,
    journey_id uuid,
    journey_mapped boolean NOT NULL DEFAULT false,
    journey_new boolean NOT NULL DEFAULT false,
    journey_updated boolean NOT NULL DEFAULT false,
    patient_new boolean NOT NULL DEFAULT false,
    {OUTCOME_COLUMNS}
"""
_COPY = [
    "line",
    "old_id",
    "first_name",
    "last_name",
    "email",
    "contact_record",
    "condition_id",
    "first_contact",
    "consult",
    "created_at",
    "trial_id",
    "trial_name",
    "referral",
    "eligible",
    "ineligible_reason",
    "ct_outcome",
    "journey_name",
    "journey_notes",
    "skip",
    "reasons",
]
# The journey's trial name when the row names no trial (journeys.py), and its notes.
UNKNOWN_TRIAL = "Unknown trial (imported)"


def _journey_notes(old_id: str, ct_outcome: str) -> str:
    notes = f"Imported from the legacy CRM (patient {old_id})."
    return f"{notes}\nOutcome in the legacy CRM: {ct_outcome}" if ct_outcome else notes


def _row(line: int, row: dict[str, str], conditions: Conditions, today: dt.date, now: dt.datetime) -> tuple:
    skip = None
    reasons: list[str] = []
    email = first_contact = consult = referral = eligible = None
    try:
        if not row["patientid"]:
            raise BadValue("no patientid")
        if not row["firstname"] and not row["lastname"]:
            raise BadValue("no firstname or lastname")
        if len(row["firstname"]) > 150 or len(row["lastname"]) > 150:
            raise BadValue("firstname or lastname longer than 150 characters")
        email = parse_email(row["email"])
        first_contact = parse_date(row["first_contact_date"], "first_contact_date")
        consult = parse_date(row["initial_consult_date"], "initial_consult_date")
        referral = parse_date(row["ct_referral_date"], "ct_referral_date")
        eligible = parse_bool(row["eligible"], "eligible")
    except BadValue as exc:
        skip = str(exc)
    if first_contact and first_contact > today:
        reasons.append("first_contact_date is in the future: not kept")
        first_contact = None
    if first_contact and consult and consult < first_contact:
        reasons.append("initial_consult_date before first_contact_date: not kept")
        consult = None
    condition_id = None
    if row["medical_condition"]:
        condition_id = conditions.by_old_id.get(row["medical_condition"])
        if condition_id is None:
            reasons.append("medical_condition is not an id of medical_condition.csv")
    trial_id, trial_name = row["trial_id"], ""
    if trial_id and (len(trial_id) > 50 or (trial_id.upper().startswith("NCT") and not NCT.match(trial_id))):
        reasons.append("trial_id is not a valid registry id (NCT + 8 digits): kept as the trial name")
        trial_id, trial_name = "", trial_id[:300]
    return (
        line,
        row["patientid"],
        row["firstname"],
        row["lastname"],
        email,
        row["contact_record"],
        condition_id,
        first_contact,
        consult,
        midnight(first_contact) or now,
        trial_id,
        trial_name,
        referral,
        eligible,
        row["ineligible_reason"],
        row["ct_outcome"],
        trial_name or (UNKNOWN_TRIAL if not trial_id else ""),
        _journey_notes(row["patientid"], row["ct_outcome"]),
        skip,
        reasons,
    )


def stage_patients(*, files: ImportFiles, conditions: Conditions, progress) -> None:
    create_table("stg_patient", TABLE)
    today, now = timezone.localdate(), timezone.now()
    for batch in batched(read_csv(files, FILE, required=COLUMNS), BATCH):
        copy_rows("stg_patient", _COPY, (_row(line, row, conditions, today, now) for line, row in batch))
        progress(len(batch))
    sql("CREATE INDEX ON stg_patient (old_id)")
    sql("CREATE INDEX ON stg_patient (contact_record)")
    sql(
        """
        UPDATE stg_patient p SET skip = 'duplicate patientid (an earlier row has it)'
        FROM stg_patient e WHERE e.old_id = p.old_id AND e.line < p.line AND p.skip IS NULL
        """
    )
    # A contact without an email takes its patient's: the two rows are one human.
    sql(
        """
        UPDATE stg_contact c SET pkey = p.email
        FROM stg_patient p
        WHERE p.contact_record = c.old_id AND c.email IS NULL AND p.email IS NOT NULL
          AND c.skip IS NULL AND p.skip IS NULL
        """
    )
    # The contact's identity key; its condition where the row has none: the lookup id wins over the
    # contact's option-set text, and a disagreement is reported.
    sql(
        """
        UPDATE stg_patient p SET pkey = c.pkey, contact_line = c.line,
               condition_id = coalesce(p.condition_id, c.condition_id),
               reasons = p.reasons
                   || CASE WHEN p.email IS NOT NULL AND c.email IS NOT NULL AND p.email <> c.email
                      THEN ARRAY['email differs from its contact''s (the contact''s is kept)'] ELSE '{}' END
                   || CASE WHEN p.condition_id IS NOT NULL AND c.condition_id IS NOT NULL
                                AND p.condition_id <> c.condition_id
                      THEN ARRAY['medical condition: the lookup and the contact''s option set differ '
                                 '(the lookup''s kept)'] ELSE '{}' END
        FROM stg_contact c
        WHERE c.old_id = p.contact_record AND c.skip IS NULL AND p.skip IS NULL
        """
    )
    sql(
        """
        UPDATE stg_patient SET reasons = reasons || CASE WHEN EXISTS (
                   SELECT 1 FROM stg_contact c WHERE c.old_id = stg_patient.contact_record)
               THEN 'contact_record names a contact row that was skipped: matched by email'::text
               ELSE 'contact_record not found in contact.csv: matched by email'::text END
        WHERE contact_record <> '' AND pkey IS NULL AND skip IS NULL
        """
    )
    sql("UPDATE stg_patient SET pkey = coalesce(email, 'patient ' || old_id) WHERE pkey IS NULL AND skip IS NULL")
    sql("CREATE INDEX ON stg_patient (pkey)")
    sql("ANALYZE stg_patient (line, old_id, pkey, email, contact_record, contact_line, skip)")


# The non-identity fields a later run may update (patient column -> staged column).
UPDATABLE = {
    "medical_condition_id": "condition_id",
    "first_contact_date": "first_contact",
    "initial_consult_date": "consult",
}


# The latest booking per identity key among the contact rows that ``calls.write_calls`` makes a new call
# of (not skipped, booked, not in the future, not an earlier run's call): the follow-up of a new Patient,
# ordered as ``patients.follow_up`` orders calls (the calls of one run share their ``created_at``).
_LATEST_BOOKING = f"""
    SELECT DISTINCT ON (c.pkey) c.pkey, c.reminder, c.booking
    FROM stg_contact c
    WHERE c.skip IS NULL AND c.booking IS NOT NULL AND c.booking <= now()
      AND NOT EXISTS (SELECT 1 FROM import_mapping m JOIN call_history ch ON ch.id = m.new_id::uuid
                      WHERE m.source = '{SOURCE}' AND m.old_table = 'contact.call' AND m.old_id = c.old_id)
    ORDER BY c.pkey, c.booking DESC, c.line DESC
"""


def write_patients(*, run_id, navigator_id=None) -> None:
    """One Patient per Person: the first patient row of each Person creates it (unless an earlier run
    mapped it, or the Person already is a patient); the Person's other rows match it.

    A new Patient is inserted with its follow-up already set (``navigator_id``: bookings become calls,
    ``calls.py``): the latest of the bookings ``calls.write_calls`` will turn into its calls, so that
    ``calls.refresh_follow_ups`` need not rewrite (and audit) every new patient row a second time."""
    # An earlier run's patient (mapping), then a patient the Person already has, then a new one.
    sql(
        f"""
        UPDATE stg_patient p SET new_id = pt.id, mapped = true
        FROM stg_patient q {mapped_join("m", "patient", "q.old_id")} JOIN patient pt ON pt.id = m.new_id::uuid
        WHERE q.line = p.line AND p.skip IS NULL
        """
    )
    # The new Patients were planned in persons.resolve_persons (id and first row of each key with patient
    # rows); a Person who already is a patient keeps that Patient instead (and makes none).
    sql(
        """
        UPDATE stg_person s SET patient_id = pt.id, patient_line = NULL FROM patient pt
        WHERE pt.person_id = s.person_id AND s.hidden IS NULL
        """
    )
    # Each row's Person and Patient and outcome in one pass (a row of a Person the operator may not see is
    # skipped: its Person's ``hidden`` reason).
    sql(
        """
        UPDATE stg_patient p SET person_id = s.person_id, skip = s.hidden,
               new_id = CASE WHEN p.mapped THEN p.new_id ELSE s.patient_id END,
               created = NOT p.mapped AND coalesce(s.patient_line = p.line, false),
               patient_new = NOT p.mapped AND coalesce(s.patient_line = p.line, false),
               matched = CASE WHEN p.mapped THEN p.matched
                              WHEN s.patient_line IS NULL THEN 'the person is already a patient'
                              ELSE 'same person as an earlier patient row' END
        FROM stg_person s WHERE s.pkey = p.pkey
        """
    )
    report_patient_differences()
    apply_updates(
        staged="stg_patient", key="new_id", target="patient", old_table="patient", old_id="old_id", fields=UPDATABLE
    )
    sql(
        f"""
        INSERT INTO patient (id, person_id, medical_condition_id, navigator_id, first_contact_date,
                             initial_consult_date, status, is_active, deletion_reason, created_at, updated_at,
                             follow_up_date, last_call_at)
        SELECT s.patient_id, s.person_id, p.condition_id, NULL, p.first_contact, p.consult, 'active', true, '',
               p.created_at, now(), f.reminder, f.booking
        FROM stg_person s JOIN stg_patient p ON p.line = s.patient_line
        LEFT JOIN ({_LATEST_BOOKING}) f ON f.pkey = s.pkey AND %s
        """,
        [navigator_id is not None],
    )
    sql("ANALYZE patient (id, person_id)")
    # A Person this run made has no role yet; only a stored one is looked up (``OR``: a lookup by index per
    # stored Person, never an anti-join that the planner may turn into a scan per row of a table it
    # believes small).
    sql(
        """
        INSERT INTO person_contact_type (id, person_id, contact_type_id, valid_from, valid_to, created_at, updated_at)
        SELECT gen_random_uuid(), s.person_id, ct.id, p.created_at, NULL, now(), now()
        FROM stg_person s JOIN stg_patient p ON p.line = s.patient_line JOIN contact_type ct ON ct.code = 'patient'
        WHERE s.state = 'new' OR NOT EXISTS (
            SELECT 1 FROM person_contact_type x WHERE x.person_id = s.person_id AND x.contact_type_id = ct.id
              AND tstzrange(x.valid_from, x.valid_to) && tstzrange(p.created_at, NULL))
        """
    )
