"""One Person per human, across contact.csv and patient.csv.

Every staged row has an identity key (``pkey``): its normalised email, or — without one — the row
itself (a patient row takes its contact's key). One ``stg_person`` row per key then finds its Person:

1. an earlier run's Person (the mapping of any of its rows);
2. a stored Person with that email (never overwritten: blanks are filled, differences reported);
3. otherwise a new Person, from the key's first row (contacts before patients, in line order).

A stored Person outside the operator's program (``persons_visible_to``: a CM-only Person for a CRM
supervisor) is not used, and its rows say only "matches a record you cannot see".
"""

from __future__ import annotations

from common.imports.context import import_file_context
from patients.imports.legacy_crm._staging import SOURCE, create_table, mapped_join, sql
from people.selectors import persons_visible_to

HIDDEN = "matches a record you cannot see"
DELETED = "matches a deleted person (restore them first)"

TABLE = """
    pkey text PRIMARY KEY,
    email text,
    first_name text NOT NULL,
    last_name text NOT NULL,
    phone text NOT NULL DEFAULT '',
    src text NOT NULL,
    src_line integer NOT NULL,
    created_at timestamptz,
    person_id uuid,
    state text,
    hidden text,
    patient_id uuid,
    patient_line integer
"""


def resolve_persons(*, scope_user) -> None:
    """Find or plan the Person of every identity key (nothing is written yet)."""
    create_table("stg_person", TABLE, fill_factor=50)
    # Every key starts as a new Person with its id drawn here (one write per key); the two lookups below
    # turn the keys they find into 'mapped' / 'existing'. The phone: the first that parsed among the
    # key's contact rows. A key with patient rows also starts with a new Patient planned (its id, and its
    # first patient row): patients.write_patients replaces it by the Patient the Person already has.
    sql(
        """
        INSERT INTO stg_person (pkey, email, first_name, last_name, phone, src, src_line, created_at, person_id,
                                state, patient_line, patient_id)
        SELECT f.pkey, CASE WHEN position(' ' IN f.pkey) = 0 THEN f.pkey END, f.first_name, f.last_name,
               coalesce(ph.phone, ''), f.src, f.line, f.created_at, gen_random_uuid(), 'new',
               pt.line, CASE WHEN pt.line IS NOT NULL THEN gen_random_uuid() END
        FROM (
            SELECT DISTINCT ON (pkey) pkey, first_name, last_name, src, line, created_at
            FROM (
                SELECT pkey, first_name, last_name, 'contact.csv' AS src, 0 AS ord, line, booking AS created_at
                FROM stg_contact WHERE skip IS NULL
                UNION ALL
                SELECT pkey, first_name, last_name, 'patient.csv', 1, line, created_at
                FROM stg_patient WHERE skip IS NULL
            ) u
            ORDER BY pkey, ord, line
        ) f
        LEFT JOIN (
            SELECT DISTINCT ON (pkey) pkey, phone FROM stg_contact
            WHERE skip IS NULL AND phone <> '' ORDER BY pkey, line
        ) ph ON ph.pkey = f.pkey
        LEFT JOIN (
            SELECT DISTINCT ON (pkey) pkey, line FROM stg_patient WHERE skip IS NULL ORDER BY pkey, line
        ) pt ON pt.pkey = f.pkey
        """
    )
    sql(
        f"""
        UPDATE stg_person s SET person_id = m.person_id, state = 'mapped'
        FROM (
            SELECT c.pkey, m.new_id::uuid AS person_id FROM stg_contact c {mapped_join("m", "contact", "c.old_id")}
            WHERE c.skip IS NULL
            UNION ALL
            SELECT p.pkey, pt.person_id FROM stg_patient p {mapped_join("m", "patient", "p.old_id")}
            JOIN patient pt ON pt.id = m.new_id::uuid
            WHERE p.skip IS NULL
        ) m JOIN person ON person.id = m.person_id
        WHERE s.pkey = m.pkey
        """
    )
    sql(
        """
        UPDATE stg_person s SET person_id = p.id, state = 'existing'
        FROM person p WHERE lower(trim(p.email)) = s.email AND s.state = 'new'
        """
    )
    sql(
        "UPDATE stg_person s SET hidden = %s, patient_id = NULL, patient_line = NULL "
        "FROM person p WHERE p.id = s.person_id AND NOT p.is_active "
        "AND s.state <> 'new'",
        [DELETED],
    )
    if scope_user is not None and not scope_user.is_superuser:
        visible, params = persons_visible_to(scope_user).values("id").query.sql_with_params()
        sql(
            f"UPDATE stg_person SET hidden = %s, patient_id = NULL, patient_line = NULL "
            f"WHERE state <> 'new' AND hidden IS NULL "
            f"AND person_id NOT IN ({visible})",
            [HIDDEN, *params],
        )
    sql("CREATE INDEX ON stg_person (person_id)")
    sql("ANALYZE stg_person")


def write_persons(*, src: str, run_id) -> None:
    """Insert the new Persons whose first row is in ``src`` and fill blanks of stored ones."""
    with import_file_context(source=SOURCE, file=src, run_id=run_id):
        sql(
            """
            INSERT INTO person (id, first_name, last_name, email, phone, date_of_birth, user_id, is_active,
                                deletion_reason, created_at, updated_at)
            SELECT person_id, first_name, last_name, email, phone, NULL, NULL, true, '',
                   least(coalesce(created_at, now()), now()), now()
            FROM stg_person WHERE state = 'new' AND src = %s
            """,
            [src],
        )
        # A stored Person's empty phone is filled (as the returning-patient rule does); a stored one stays.
        sql(
            """
            UPDATE person p SET phone = s.phone, updated_at = now()
            FROM stg_person s
            WHERE s.person_id = p.id AND s.state <> 'new' AND s.hidden IS NULL AND s.src = %s
              AND p.phone = '' AND s.phone <> ''
            """,
            [src],
        )


_DIFFERENCES = """
    array_remove(ARRAY[
        CASE WHEN r.first_name <> '' AND lower(r.first_name) <> lower(p.first_name)
             THEN 'first name differs from the stored person''s (stored kept)' END,
        CASE WHEN r.last_name <> '' AND lower(r.last_name) <> lower(p.last_name)
             THEN 'last name differs from the stored person''s (stored kept)' END,
        {phone}
    ], NULL)
"""


_NAMES_DIFFER = (
    "(r.first_name <> '' AND lower(r.first_name) <> lower(p.first_name)) "
    "OR (r.last_name <> '' AND lower(r.last_name) <> lower(p.last_name))"
)


def link_rows() -> None:
    """Give every contact row its Person and outcome, and list how the rows differ from the stored
    Person (the patient rows get theirs in ``patients.write_patients``)."""
    sql(
        """
        UPDATE stg_contact r SET person_id = s.person_id, new_id = s.person_id, skip = s.hidden,
               mapped = (s.state = 'mapped'),
               created = (s.state = 'new' AND s.src = 'contact.csv' AND s.src_line = r.line),
               matched = CASE WHEN s.state = 'existing' THEN 'an existing person has this email'
                              ELSE 'same person as an earlier contact row (same email)' END
        FROM stg_person s WHERE s.pkey = r.pkey AND r.skip IS NULL
        """
    )
    phone = (
        "CASE WHEN r.phone <> '' AND p.phone <> '' AND r.phone <> p.phone "
        "THEN 'phone differs from the stored person''s (stored kept)' END"
    )
    sql(
        f"""
        UPDATE stg_contact r SET reasons = r.reasons || {_DIFFERENCES.format(phone=phone)}
        FROM person p WHERE p.id = r.person_id AND r.skip IS NULL
          AND ({_NAMES_DIFFER} OR (r.phone <> '' AND p.phone <> '' AND r.phone <> p.phone))
        """
    )


def report_patient_differences() -> None:
    """How each linked patient row differs from its stored Person (names only: patient.csv has no phone)."""
    sql(
        f"""
        UPDATE stg_patient r SET reasons = r.reasons || {_DIFFERENCES.format(phone="NULL")}
        FROM person p WHERE p.id = r.person_id AND r.skip IS NULL AND ({_NAMES_DIFFER})
        """
    )
