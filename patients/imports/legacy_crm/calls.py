"""The old model's one booking per contact -> one Call History row of the contact's patient.

``call_date`` = ``booking_date`` = the booking, its reminder and no-show, direction outbound, outcome
``not_recorded`` (the old model never said how the call went), navigator = ``--navigator``. Without
that option, or for a booking still in the future (a call cannot be logged ahead of time), the
booking is reported and not imported; a lead's booking goes to the lead's notes instead
(``leads.py``). The patients' follow-up columns are refreshed in the same transaction.
"""

from __future__ import annotations

from common.imports.context import import_file_context
from patients.follow_up import refresh_follow_up
from patients.imports.legacy_crm._staging import BATCH, SOURCE, apply_updates, create_table, fetch, mapped_join, sql

NO_NAVIGATOR = "booking not imported as a call: no --navigator given"
NOT_PATIENT = "booking not imported: the contact is neither a patient nor a lead"
FUTURE = "booking is in the future: not imported as a call"

# The fields of an imported call that a later run may update (call column -> staged column): the booking
# itself is the call's identity (it is its date), its reminder and no-show are not.
UPDATABLE = {"reminder_date": "reminder", "no_show": "no_show"}


def write_calls(*, navigator_id, actor_id, run_id) -> None:
    sql(
        f"""
        UPDATE stg_contact c SET call_id = ch.id, call_mapped = true
        FROM stg_contact q {mapped_join("m", "contact.call", "q.old_id")} JOIN call_history ch ON ch.id = m.new_id::uuid
        WHERE q.line = c.line AND c.skip IS NULL
        """
    )
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        apply_updates(
            staged="stg_contact",
            key="call_id",
            target="call_history",
            old_table="contact.call",
            old_id="old_id",
            fields=UPDATABLE,
            mapped="call_mapped",
            updated="call_updated",
        )
    sql("UPDATE stg_contact SET updated = true WHERE call_updated")
    sql(
        """
        UPDATE stg_contact c SET reasons = c.reasons || %s::text
        WHERE c.booking IS NOT NULL AND c.skip IS NULL AND c.call_id IS NULL AND c.kind <> 'lead'
          AND NOT EXISTS (SELECT 1 FROM stg_person s WHERE s.pkey = c.pkey AND s.patient_id IS NOT NULL)
        """,
        [NOT_PATIENT],
    )
    with_patient = """
        FROM stg_person s
        WHERE s.pkey = c.pkey AND s.patient_id IS NOT NULL AND c.skip IS NULL AND c.booking IS NOT NULL
          AND c.call_id IS NULL
    """
    if navigator_id is None:
        sql(f"UPDATE stg_contact c SET reasons = c.reasons || %s::text {with_patient}", [NO_NAVIGATOR])
    else:
        sql(f"UPDATE stg_contact c SET reasons = c.reasons || %s::text {with_patient} AND c.booking > now()", [FUTURE])
        sql(
            f"UPDATE stg_contact c SET call_id = gen_random_uuid(), call_new = true {with_patient} "
            "AND c.booking <= now()"
        )
        with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
            sql(
                """
                INSERT INTO call_history (id, patient_id, pn_id, direction, call_date, booking_date, reminder_date,
                                          no_show, call_duration_minutes, outcome, notes, created_by_id,
                                          is_active, deletion_reason, created_at, updated_at)
                SELECT c.call_id, s.patient_id, %s, 'outbound', c.booking, c.booking, c.reminder, c.no_show, NULL,
                       'not_recorded', 'Booking imported from the legacy CRM (contact ' || c.old_id || ').', %s,
                       true, '', now(), now()
                FROM stg_contact c JOIN stg_person s ON s.pkey = c.pkey
                WHERE c.call_new
                """,
                [navigator_id, actor_id],
            )
            # refresh_follow_up reads each patient's latest call by index. Named columns: see __init__.
            sql("ANALYZE call_history (id, patient_id)")


def refresh_follow_ups(run_id) -> None:
    """The follow-up columns of the stored patients whose calls this run made or updated, a batch at a time.

    The Patients this run made are left out: ``patients.write_patients`` inserted them with the follow-up
    of the bookings that became their calls (before, bulk-load mode rewrote every patient in one pass:
    7.3 s and one audit event per patient for 55,000 new patients, load ~5).

    The ids are gathered once into a TEMP table with a primary key, and read back by key range: a
    ``DISTINCT ... WHERE id > last ORDER BY id LIMIT n`` over the staged calls would read them all again
    for every batch (quadratic in the calls)."""
    create_table("stg_follow_up", "patient_id uuid PRIMARY KEY", fill_factor=100)
    sql(
        """
        INSERT INTO stg_follow_up (patient_id)
        SELECT DISTINCT ch.patient_id FROM stg_contact c JOIN call_history ch ON ch.id = c.call_id
        WHERE (c.call_new OR c.call_updated)
          AND NOT EXISTS (SELECT 1 FROM stg_patient p WHERE p.patient_new AND p.new_id = ch.patient_id)
        """
    )
    after = None
    with import_file_context(source=SOURCE, file="contact.csv", run_id=run_id):
        while True:
            ids = [
                row[0]
                for row in fetch(
                    "SELECT patient_id FROM stg_follow_up WHERE %s::uuid IS NULL OR patient_id > %s::uuid "
                    "ORDER BY patient_id LIMIT %s",
                    [after, after, BATCH],
                )
            ]
            if ids:
                refresh_follow_up(patient_ids=ids)
            if len(ids) < BATCH:
                break
            after = ids[-1]
    sql("DROP TABLE stg_follow_up")
