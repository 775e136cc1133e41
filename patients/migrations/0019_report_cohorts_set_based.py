# Written by hand: the cohorts' flags as one grouped join instead of EXISTS per row: the leads' CT flags
# (two EXISTS per lead) and the exited EAP journeys' steps (two EXISTS per journey) (docs/MIGRATION.md, round 4).
#
# The EXISTS were run once per lead; where `clinical_trial_journey` has no index on `patient_id` (the legacy
# import's --bulk-load drops its secondary indexes until the end of its transaction) each one read the whole
# table: the import's CT journeys (60,000, refreshing ~19,000 converted leads) took 216 s. The grouped join
# lets the planner hash the journeys once, or use the index per lead when there is one and few leads. bench.generate
# rebuilds both tables from the views before it re-creates the indexes: the same per-row full scans.
# Same rows as before (tests/patients/test_report_cohorts.py compares with the Python definitions).
# Self-contained on purpose, as 0015: the SQL lives here.

from django.db import migrations

LEAD_FLAGS = """
    SELECT l.id AS lead_id, l.created_at, p.navigator_id, l.status = 'converted' AS converted,
           l.status = 'converted' AND c.lead_id IS NOT NULL AS ct_referred,
           l.status = 'converted' AND coalesce(c.enrolled, false) AS ct_enrolled
    FROM patient_lead l
    LEFT JOIN patient p ON p.id = l.converted_patient_id
    LEFT JOIN (
        SELECT k.id AS lead_id,
               bool_or(j.status IN ('enrolled', 'completed')
                       OR (j.status = 'withdrawn' AND j.enrollment_date IS NOT NULL)) AS enrolled
        FROM patient_lead k
        JOIN clinical_trial_journey j
          ON j.patient_id = k.converted_patient_id AND j.is_active AND j.created_at >= k.created_at
        WHERE k.status = 'converted' {inner}
        GROUP BY k.id
    ) c ON c.lead_id = l.id
    WHERE true {outer}"""

OLD_LEAD_FLAGS = """
    SELECT l.id AS lead_id, l.created_at, p.navigator_id, l.status = 'converted' AS converted,
           l.status = 'converted' AND EXISTS (
               SELECT 1 FROM clinical_trial_journey j
               WHERE j.patient_id = l.converted_patient_id AND j.is_active AND j.created_at >= l.created_at
           ) AS ct_referred,
           l.status = 'converted' AND EXISTS (
               SELECT 1 FROM clinical_trial_journey j
               WHERE j.patient_id = l.converted_patient_id AND j.is_active AND j.created_at >= l.created_at
                 AND (j.status IN ('enrolled', 'completed')
                      OR (j.status = 'withdrawn' AND j.enrollment_date IS NOT NULL))
           ) AS ct_enrolled
    FROM patient_lead l
    LEFT JOIN patient p ON p.id = l.converted_patient_id
    WHERE true {outer}"""

EAP_FLAGS = """
    SELECT j.id AS journey_id, j.created_at, p.navigator_id,
           j.status IN ('submitted', 'approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND coalesce(s.submitted, false)) AS submitted,
           j.status IN ('approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND coalesce(s.approved, false)) AS approved
    FROM eap_journey j
    JOIN patient p ON p.id = j.patient_id
    LEFT JOIN (
        SELECT c.eap_journey_id, bool_or(c.to_status = 'submitted') AS submitted,
               bool_or(c.to_status = 'approved') AS approved
        FROM journey_status_change c
        JOIN eap_journey e ON e.id = c.eap_journey_id AND e.status IN ('declined', 'withdrawn')
        WHERE c.to_status IN ('submitted', 'approved') {inner}
        GROUP BY c.eap_journey_id
    ) s ON s.eap_journey_id = j.id
    WHERE j.is_active {outer}"""

EAP_STEP = "EXISTS (SELECT 1 FROM journey_status_change s WHERE s.eap_journey_id = j.id AND s.to_status = '{}')"
OLD_EAP_FLAGS = f"""
    SELECT j.id AS journey_id, j.created_at, p.navigator_id,
           j.status IN ('submitted', 'approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND {EAP_STEP.format("submitted")}) AS submitted,
           j.status IN ('approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND {EAP_STEP.format("approved")}) AS approved
    FROM eap_journey j
    JOIN patient p ON p.id = j.patient_id
    WHERE j.is_active {{outer}}"""


def _cohort_sql(table: str, select: str, inner: str, outer: str) -> str:
    every = select.format(inner="", outer="")
    some = select.format(inner=inner, outer=outer)
    return (
        f"CREATE OR REPLACE VIEW {table}_fresh AS {every};\n"
        f"CREATE OR REPLACE FUNCTION {table}_of(ids uuid[]) RETURNS SETOF {table} LANGUAGE sql STABLE"
        f" AS $${some}$$;\n"
    )


def _sql(leads: str, eap: str) -> str:
    return _cohort_sql("lead_cohort", leads, "AND k.id = ANY(ids)", "AND l.id = ANY(ids)") + _cohort_sql(
        "eap_cohort", eap, "AND c.eap_journey_id = ANY(ids)", "AND j.id = ANY(ids)"
    )


def forward(apps, schema_editor):
    schema_editor.execute(_sql(LEAD_FLAGS, EAP_FLAGS), params=None)


def backward(apps, schema_editor):
    schema_editor.execute(_sql(OLD_LEAD_FLAGS, OLD_EAP_FLAGS), params=None)


class Migration(migrations.Migration):
    dependencies = [("patients", "0018_report_triggers_planned_for_size")]

    operations = [migrations.RunPython(forward, backward)]
