"""eap_dossier.csv -> EAP Journeys: ``active`` with its enrollment date when ``eap_enrollment_date``
is set, else ``pending``.

An active journey needs an approval date, which the old model did not keep: the enrollment date
stands in for it (approval comes before enrollment) and the journey's notes say so. A dossier whose
patient row is missing or was not imported is skipped with that reason; a dossier number that another
patient's journey already has is skipped (dossier numbers are unique).
"""

from __future__ import annotations

from django.conf import settings

from common.imports.context import import_file_context
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
from patients.imports.legacy_crm._values import BadValue, parse_date

FILE = "eap_dossier.csv"
COLUMNS = ["patient", "eap_number", "product", "eap_enrollment_date"]
TABLE = f"""
    line integer PRIMARY KEY,
    old_id text NOT NULL,
    patient_old text NOT NULL,
    eap_number text NOT NULL,
    product text NOT NULL,
    enrollment date,
    patient_id uuid,
    {OUTCOME_COLUMNS}
"""
# The fields of an imported EAP journey that a later run may update (journey column -> staged column): the
# dossier number is its identity, its status and dates are the journey's own workflow.
UPDATABLE = {"product": "product"}
_COPY = ["line", "old_id", "patient_old", "eap_number", "product", "enrollment", "skip"]


def _row(line: int, row: dict[str, str]) -> tuple:
    skip, enrollment = None, None
    try:
        if not row["patient"]:
            raise BadValue("no patient")
        if not row["product"]:
            raise BadValue("no product")
        if len(row["eap_number"]) > 50 or len(row["product"]) > 200:
            raise BadValue("eap_number over 50 or product over 200 characters")
        enrollment = parse_date(row["eap_enrollment_date"], "eap_enrollment_date")
    except BadValue as exc:
        skip = str(exc)
    # The dossier number identifies a dossier; without one, its patient and product do.
    old_id = row["eap_number"].lower() or f"{row['patient']}/{row['product'].lower()}"
    return (line, old_id, row["patient"], row["eap_number"], row["product"], enrollment, skip)


def stage_eap(*, files: ImportFiles, progress) -> None:
    create_table("stg_eap", TABLE, fill_factor=50)
    if FILE not in files:
        return
    for batch in batched(read_csv(files, FILE, required=COLUMNS), BATCH):
        copy_rows("stg_eap", _COPY, (_row(line, row) for line, row in batch))
        progress(len(batch))
    sql("CREATE INDEX ON stg_eap (old_id)")
    sql(
        """
        UPDATE stg_eap e SET skip = 'duplicate dossier (an earlier row has its eap_number)'
        FROM stg_eap x WHERE x.old_id = e.old_id AND x.line < e.line AND e.skip IS NULL
        """
    )


def write_eap(*, actor_id, run_id) -> None:
    sql(
        """
        UPDATE stg_eap e SET patient_id = p.new_id,
               skip = CASE WHEN p.new_id IS NULL THEN 'its patient row was not imported' END
        FROM stg_patient p WHERE p.old_id = e.patient_old AND e.skip IS NULL
        """
    )
    sql("UPDATE stg_eap SET skip = 'patient not found in patient.csv' WHERE patient_id IS NULL AND skip IS NULL")
    sql(
        f"""
        UPDATE stg_eap e SET new_id = j.id, mapped = true
        FROM stg_eap q {mapped_join("m", "eap_dossier", "q.old_id")} JOIN eap_journey j ON j.id = m.new_id::uuid
        WHERE q.line = e.line AND e.skip IS NULL
        """
    )
    sql(
        """
        UPDATE stg_eap e SET new_id = CASE WHEN j.patient_id = e.patient_id THEN j.id END,
               matched = 'an EAP journey with this dossier number exists',
               skip = CASE WHEN j.patient_id <> e.patient_id
                           THEN 'another patient''s EAP journey has this dossier number' END
        FROM eap_journey j
        WHERE lower(j.eap_number) = lower(e.eap_number) AND e.eap_number <> '' AND e.skip IS NULL AND NOT e.mapped
        """
    )
    with import_file_context(source=SOURCE, file=FILE, run_id=run_id):
        apply_updates(
            staged="stg_eap",
            key="new_id",
            target="eap_journey",
            old_table="eap_dossier",
            old_id="old_id",
            fields=UPDATABLE,
        )
    sql("UPDATE stg_eap SET new_id = gen_random_uuid(), created = true WHERE skip IS NULL AND new_id IS NULL")
    with import_file_context(source=SOURCE, file=FILE, run_id=run_id):
        sql(
            """
            WITH j AS (
            INSERT INTO eap_journey (id, patient_id, physician_id, eap_number, product, status, approval_date,
                                     enrollment_date, completion_date, notes, is_active, deletion_reason,
                                     created_at, updated_at)
            SELECT new_id, patient_id, NULL, eap_number, product,
                   CASE WHEN enrollment IS NULL THEN 'pending' ELSE 'active' END, enrollment, enrollment, NULL,
                   concat_ws(E'\\n', 'Imported from the legacy CRM.',
                             CASE WHEN enrollment IS NOT NULL
                                  THEN 'Approval date unknown in the legacy CRM: the enrollment date stands in.' END),
                   true, '', coalesce(enrollment::timestamp AT TIME ZONE %s, now()), now()
            FROM stg_eap WHERE created
            RETURNING id, status, created_at
            )
            INSERT INTO journey_status_change (id, ct_journey_id, eap_journey_id, from_status, to_status, changed_at,
                                               changed_by_id, note, created_at, updated_at)
            SELECT gen_random_uuid(), NULL, j.id, '', j.status, j.created_at, %s, 'Imported from the legacy CRM.',
                   now(), now()
            FROM j
            """,
            [settings.TIME_ZONE, actor_id],
        )
