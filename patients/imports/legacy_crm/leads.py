"""``patient - lead`` contacts -> Patient Leads, converted when a patient row points at them.

One lead per Person (the first lead row of each identity): an earlier run's lead (mapping) or a lead
the Person already has is matched, never doubled. The lead is created at its ``booking_date`` (so
funnel reports over past periods count it then); a booking that did not become a call, the reminder,
the no-show and a phone that did not parse are kept in the lead's notes. The role history follows:
"patient lead" from the lead's creation to its conversion.
"""

from __future__ import annotations

from common.imports.context import import_file_context
from patients.imports.legacy_crm._staging import SOURCE, apply_updates, create_table, mapped_join, sql

# The fields of an imported lead that a later run may update (lead column -> staged contact column).
UPDATABLE = {"medical_condition_id": "condition_id"}

TABLE = """
    pkey text PRIMARY KEY,
    line integer NOT NULL,
    person_id uuid NOT NULL,
    condition_id uuid,
    created_at timestamptz,
    lead_id uuid,
    state text,
    patient_id uuid,
    converted_at timestamptz,
    notes text
"""

_NOTE = """
    concat_ws('; ',
        CASE WHEN c.booking IS NOT NULL AND c.call_id IS NULL
             THEN 'booking ' || to_char(c.booking, 'YYYY-MM-DD HH24:MI') END,
        CASE WHEN c.reminder IS NOT NULL AND c.call_id IS NULL THEN 'reminder ' || c.reminder::text END,
        CASE WHEN c.no_show AND c.call_id IS NULL THEN 'no-show' END,
        CASE WHEN c.phone_raw <> '' THEN 'phone as given: ' || c.phone_raw END)
"""


def write_leads(*, run_id) -> None:
    create_table("stg_lead", TABLE, fill_factor=50)
    sql(
        """
        INSERT INTO stg_lead (pkey, line, person_id, condition_id, created_at)
        SELECT DISTINCT ON (pkey) pkey, line, person_id, condition_id, booking
        FROM stg_contact WHERE skip IS NULL AND kind = 'lead' ORDER BY pkey, line
        """
    )
    sql(
        f"""
        UPDATE stg_lead l SET lead_id = pl.id, state = 'mapped'
        FROM stg_contact c {mapped_join("m", "contact.lead", "c.old_id")} JOIN patient_lead pl ON pl.id = m.new_id::uuid
        WHERE c.pkey = l.pkey AND c.skip IS NULL
        """
    )
    sql(
        """
        UPDATE stg_lead l SET lead_id = x.id, state = 'existing'
        FROM (SELECT DISTINCT ON (person_id) person_id, id FROM patient_lead ORDER BY person_id, created_at DESC) x
        WHERE x.person_id = l.person_id AND l.lead_id IS NULL
        """
    )
    sql("ANALYZE stg_lead")
    # Converted when one of the Person's patient rows names one of its lead contacts.
    sql(
        """
        UPDATE stg_lead l SET patient_id = s.patient_id
        FROM stg_person s, (
            SELECT DISTINCT c.pkey FROM stg_patient p JOIN stg_contact c ON c.line = p.contact_line
            WHERE c.kind = 'lead' AND p.skip IS NULL
        ) k
        WHERE k.pkey = l.pkey AND s.pkey = l.pkey AND l.lead_id IS NULL AND s.patient_id IS NOT NULL
        """
    )
    sql(
        """
        UPDATE stg_lead l SET created_at = coalesce(l.created_at, pt.created_at)
        FROM patient pt WHERE pt.id = l.patient_id AND l.created_at IS NULL
        """
    )
    sql(
        """
        UPDATE stg_lead l SET lead_id = gen_random_uuid(), state = 'new',
               created_at = least(coalesce(l.created_at, now()), now()),
               notes = concat_ws(E'\\n', 'Imported from the legacy CRM.', n.notes)
        FROM stg_lead l2 LEFT JOIN (
            SELECT c.pkey, string_agg(NULLIF('contact ' || c.old_id || ': ' || """
        + _NOTE
        + """, 'contact ' || c.old_id || ': '), E'\\n' ORDER BY c.line) AS notes
            FROM stg_contact c WHERE c.skip IS NULL AND c.kind = 'lead' GROUP BY c.pkey
        ) n ON n.pkey = l2.pkey
        WHERE l2.pkey = l.pkey AND l.lead_id IS NULL
        """
    )
    sql(
        """
        UPDATE stg_lead l SET converted_at = greatest(l.created_at, pt.created_at)
        FROM patient pt WHERE pt.id = l.patient_id AND l.state = 'new'
        """
    )
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        sql(
            """
            INSERT INTO patient_lead (id, person_id, medical_condition_id, source, landing_page_url, status,
                                      converted_patient_id, converted_at, notes, created_at, updated_at)
            SELECT lead_id, person_id, condition_id, 'other', '',
                   CASE WHEN patient_id IS NULL THEN 'new' ELSE 'converted' END, patient_id, converted_at,
                   notes, created_at, now()
            FROM stg_lead WHERE state = 'new'
            """
        )
        sql(
            """
            INSERT INTO person_contact_type (id, person_id, contact_type_id, valid_from, valid_to,
                                             created_at, updated_at)
            SELECT gen_random_uuid(), l.person_id, ct.id, l.created_at, l.converted_at, now(), now()
            FROM stg_lead l JOIN stg_person s ON s.pkey = l.pkey JOIN contact_type ct ON ct.code = 'patient_lead'
            WHERE l.state = 'new' AND (l.converted_at IS NULL OR l.converted_at > l.created_at)
              AND (s.state = 'new' OR NOT EXISTS (
                SELECT 1 FROM person_contact_type x WHERE x.person_id = l.person_id AND x.contact_type_id = ct.id
                  AND tstzrange(x.valid_from, x.valid_to) && tstzrange(l.created_at, l.converted_at)))
            """
        )
    sql(
        """
        UPDATE stg_contact c SET created = c.created OR (l.state = 'new' AND l.line = c.line),
               role_id = l.lead_id, role_new = (l.state = 'new' AND l.line = c.line),
               role_mapped = (l.state = 'mapped' AND l.line = c.line),
               reasons = c.reasons || CASE WHEN l.state = 'existing' AND c.booking IS NOT NULL AND c.call_id IS NULL
                   THEN ARRAY['booking not imported: the person''s lead existed before the import'] ELSE '{}' END
        FROM stg_lead l WHERE l.pkey = c.pkey AND c.kind = 'lead' AND c.skip IS NULL
        """
    )
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        apply_updates(
            staged="stg_contact",
            key="role_id",
            target="patient_lead",
            old_table="contact.lead",
            old_id="old_id",
            fields=UPDATABLE,
            mapped="role_mapped",
        )
