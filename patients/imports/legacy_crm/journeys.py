"""A patient row's trial columns -> a Clinical Trial Journey (when ``trial_id`` or
``ct_referral_date`` is set), with its opening step on the journey's timeline.

Status: ``ineligible`` (reason = the old one, or "not eligible (imported)") when ``eligible`` is
false, else ``referred`` when there is a referral date, else ``pre_screening``. ``ct_outcome`` goes
to the journey's notes: the old model lacks the dates an enrolled or completed journey needs, so no
such status is invented.
"""

from __future__ import annotations

from django.conf import settings

from common.imports.context import import_file_context
from patients.imports.legacy_crm._staging import SOURCE, apply_updates, mapped_join, sql
from patients.imports.legacy_crm.patients import UNKNOWN_TRIAL

NOT_ELIGIBLE = "not eligible (imported)"
__all__ = ["NOT_ELIGIBLE", "UNKNOWN_TRIAL", "UPDATABLE", "write_journeys"]

# The fields of an imported journey that a later run may update (journey column -> staged column). The
# status, the eligibility and the dates are the journey's own workflow (each step on its timeline).
UPDATABLE = {"trial_id": "trial_id", "trial_name": "journey_name", "notes": "journey_notes"}


def write_journeys(*, actor_id, run_id) -> None:
    sql(
        f"""
        UPDATE stg_patient p SET journey_id = j.id, journey_mapped = true
        FROM stg_patient q {mapped_join("m", "patient.ct_journey", "q.old_id")}
        JOIN clinical_trial_journey j ON j.id = m.new_id::uuid
        WHERE q.line = p.line AND p.skip IS NULL
        """
    )
    with import_file_context(source=SOURCE, file="patient.csv", run_id=run_id):
        apply_updates(
            staged="stg_patient",
            key="journey_id",
            target="clinical_trial_journey",
            old_table="patient.ct_journey",
            old_id="old_id",
            fields=UPDATABLE,
            mapped="journey_mapped",
            updated="journey_updated",
        )
    sql(
        """
        UPDATE stg_patient SET journey_id = gen_random_uuid(), journey_new = true, created = true,
               notes = notes || CASE WHEN trial_id = '' AND trial_name = ''
                   THEN ARRAY['no trial_id: the journey names an unknown trial'] ELSE '{}' END
        WHERE skip IS NULL AND new_id IS NOT NULL AND journey_id IS NULL
          AND (trial_id <> '' OR trial_name <> '' OR referral IS NOT NULL)
        """
    )
    # A patient row that only updated its journey is "updated" too.
    sql("UPDATE stg_patient SET updated = true WHERE journey_updated AND NOT updated")
    # The journeys and their opening steps in one statement (the steps read the journeys' RETURNING rows
    # rather than joining the table just written).
    with import_file_context(source=SOURCE, file="patient.csv", run_id=run_id):
        sql(
            """
            WITH j AS (
            INSERT INTO clinical_trial_journey (
                id, patient_id, referring_physician_id, trial_id, trial_name, referral_date, eligible,
                eligibility_assessment_date, ineligible_reason, status, enrollment_date, completion_date, outcome,
                notes, is_active, deletion_reason, created_at, updated_at)
            SELECT p.journey_id, p.new_id, NULL, p.trial_id, p.journey_name,
                   coalesce(p.referral, p.first_contact, current_date),
                   CASE p.eligible WHEN false THEN 'no' WHEN true THEN 'yes' ELSE 'unknown' END, NULL,
                   CASE WHEN p.eligible = false THEN coalesce(nullif(trim(p.ineligible_reason), ''), %(not_eligible)s)
                        ELSE p.ineligible_reason END,
                   CASE WHEN p.eligible = false THEN 'ineligible' WHEN p.referral IS NOT NULL THEN 'referred'
                        ELSE 'pre_screening' END,
                   NULL, NULL, '', p.journey_notes,
                   true, '', coalesce(p.referral, p.first_contact, current_date)::timestamp AT TIME ZONE %(tz)s, now()
            FROM stg_patient p WHERE p.journey_new
            RETURNING id, status, created_at
            )
            INSERT INTO journey_status_change (id, ct_journey_id, eap_journey_id, from_status, to_status, changed_at,
                                               changed_by_id, note, created_at, updated_at)
            SELECT gen_random_uuid(), j.id, NULL, '', j.status, j.created_at, %(actor)s,
                   'Imported from the legacy CRM.', now(), now()
            FROM j
            """,
            {"not_eligible": NOT_ELIGIBLE, "tz": settings.TIME_ZONE, "actor": actor_id},
        )
