"""``physician`` contacts -> Physicians (one per Person) with their hospital, created once per name.

A hospital is found by its name ignoring case and surrounding spaces (in any city: the old model kept
only the name); a new one is created once, however many physicians name it.
"""

from __future__ import annotations

from common.imports.context import import_file_context
from patients.imports.legacy_crm._staging import SOURCE, apply_updates, create_table, mapped_join, sql

# The fields of an imported physician that a later run may update (physician column -> staged contact
# column); the hospital is found by name and may be shared, so it is not one of them.
UPDATABLE = {"job_title": "job_title", "medical_license_number": "license"}

TABLE = """
    pkey text PRIMARY KEY,
    line integer NOT NULL,
    person_id uuid NOT NULL,
    hospital text NOT NULL,
    hospital_id uuid,
    job_title text NOT NULL,
    license text NOT NULL,
    physician_id uuid,
    state text
"""


def write_physicians(*, run_id) -> None:
    create_table("stg_physician", TABLE, fill_factor=50)
    sql(
        """
        INSERT INTO stg_physician (pkey, line, person_id, hospital, job_title, license)
        SELECT DISTINCT ON (pkey) pkey, line, person_id, hospital, job_title, license
        FROM stg_contact WHERE skip IS NULL AND kind = 'physician' ORDER BY pkey, line
        """
    )
    sql("ANALYZE stg_physician")
    sql(
        f"""
        UPDATE stg_physician f SET physician_id = ph.id, state = 'mapped'
        FROM stg_contact c {mapped_join("m", "contact.physician", "c.old_id")}
        JOIN physician ph ON ph.id = m.new_id::uuid
        WHERE c.pkey = f.pkey AND c.skip IS NULL
        """
    )
    sql(
        """
        UPDATE stg_physician f SET physician_id = ph.id, state = 'existing'
        FROM physician ph WHERE ph.person_id = f.person_id AND f.physician_id IS NULL
        """
    )
    sql("UPDATE stg_physician SET physician_id = gen_random_uuid(), state = 'new' WHERE physician_id IS NULL")
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        sql(
            """
            INSERT INTO hospital (id, name, city, country, address, is_active, deletion_reason, created_at, updated_at)
            SELECT DISTINCT ON (lower(trim(f.hospital))) gen_random_uuid(), trim(f.hospital), '', '', '', true, '',
                   now(), now()
            FROM stg_physician f
            WHERE f.state = 'new' AND trim(f.hospital) <> ''
              AND NOT EXISTS (SELECT 1 FROM hospital h WHERE lower(trim(h.name)) = lower(trim(f.hospital)))
            ORDER BY lower(trim(f.hospital)), f.line
            """
        )
        sql(
            """
            UPDATE stg_physician f SET hospital_id = h.id
            FROM (SELECT DISTINCT ON (lower(trim(name))) lower(trim(name)) AS key, id FROM hospital
                  ORDER BY lower(trim(name)), is_active DESC, created_at) h
            WHERE h.key = lower(trim(f.hospital)) AND f.state = 'new'
            """
        )
        sql(
            """
            INSERT INTO physician (id, person_id, hospital_id, specialization_id, job_title, medical_license_number,
                                   is_active, deletion_reason, created_at, updated_at)
            SELECT physician_id, person_id, hospital_id, NULL, job_title, license, true, '', now(), now()
            FROM stg_physician WHERE state = 'new'
            """
        )
        sql(
            """
            INSERT INTO person_contact_type (id, person_id, contact_type_id, valid_from, valid_to,
                                             created_at, updated_at)
            SELECT gen_random_uuid(), f.person_id, ct.id, now(), NULL, now(), now()
            FROM stg_physician f JOIN stg_person s ON s.pkey = f.pkey JOIN contact_type ct ON ct.code = 'physician'
            WHERE f.state = 'new' AND (s.state = 'new' OR NOT EXISTS (
                SELECT 1 FROM person_contact_type x WHERE x.person_id = f.person_id AND x.contact_type_id = ct.id
                  AND (x.valid_to IS NULL OR x.valid_to > now())))
            """
        )
    sql(
        """
        UPDATE stg_contact c SET created = c.created OR (f.state = 'new' AND f.line = c.line),
               role_id = f.physician_id, role_new = (f.state = 'new' AND f.line = c.line),
               role_mapped = (f.state = 'mapped' AND f.line = c.line)
        FROM stg_physician f WHERE f.pkey = c.pkey AND c.kind = 'physician' AND c.skip IS NULL
        """
    )
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        apply_updates(
            staged="stg_contact",
            key="role_id",
            target="physician",
            old_table="contact.physician",
            old_id="old_id",
            fields=UPDATABLE,
            mapped="role_mapped",
        )
