# Written by hand: the lead cohort's CT flags as one grouped join instead of two EXISTS per lead
# (docs/PERFORMANCE.md, "Bulk statements after small ones").
#
# The EXISTS were run once per lead; where `clinical_trial_journey` has no index on `patient_id` (the legacy
# import's --bulk-load drops its secondary indexes until the end of its transaction) each one read the whole
# table: the import's CT journeys (60,000, refreshing ~19,000 converted leads) took 216 s. The grouped join
# lets the planner hash the journeys once, or use the index per lead when there is one and few leads.
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


def _sql(select: str) -> str:
    every = select.format(inner="", outer="")
    some = select.format(inner="AND k.id = ANY(ids)", outer="AND l.id = ANY(ids)")
    return (
        f"CREATE OR REPLACE VIEW lead_cohort_fresh AS {every};\n"
        f"CREATE OR REPLACE FUNCTION lead_cohort_of(ids uuid[]) RETURNS SETOF lead_cohort LANGUAGE sql STABLE"
        f" AS $${some}$$;\n"
    )


def forward(apps, schema_editor):
    schema_editor.execute(_sql(LEAD_FLAGS), params=None)


def backward(apps, schema_editor):
    schema_editor.execute(_sql(OLD_LEAD_FLAGS), params=None)


class Migration(migrations.Migration):
    dependencies = [("patients", "0018_report_triggers_planned_for_size")]

    operations = [migrations.RunPython(forward, backward)]
