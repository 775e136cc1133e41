# Written by hand: the navigation report's cohort tables, kept exact by statement-level triggers
# (docs/REPORTS.md, "Navigation report", "Summary tables"; patients/report_rollups.py reads and checks them).
#
# Self-contained on purpose, as 0011: the SQL lives here, so that later edits of the code cannot change what
# this migration did. Each cohort's flags are written once (COHORTS below) and give both the from-scratch
# view (`<table>_fresh`, every row) and the function the triggers call (`<table>_of(ids)`, some rows).

from django.db import migrations

# The statuses of journeys/transitions.py and patients.models.LeadStatus when this was written.
LEAD_FLAGS = """
    SELECT l.id AS lead_id, l.created_at, p.navigator_id, l.status = 'converted' AS converted,
           l.status = 'converted' AND EXISTS (
               SELECT 1 FROM clinical_trial_journey j
               WHERE j.patient_id = l.converted_patient_id AND j.is_active AND j.created_at >= l.created_at
           ) AS ct_referred,
           l.status = 'converted' AND EXISTS (
               SELECT 1 FROM clinical_trial_journey j
               WHERE j.patient_id = l.converted_patient_id AND j.is_active AND j.created_at >= l.created_at
                 AND (j.status IN ('enrolled', 'completed') OR (j.status = 'withdrawn' AND j.enrollment_date IS NOT NULL))
           ) AS ct_enrolled
    FROM patient_lead l
    LEFT JOIN patient p ON p.id = l.converted_patient_id
    WHERE true {where}"""

EAP_STEP = "EXISTS (SELECT 1 FROM journey_status_change s WHERE s.eap_journey_id = j.id AND s.to_status = '{}')"
EAP_FLAGS = f"""
    SELECT j.id AS journey_id, j.created_at, p.navigator_id,
           j.status IN ('submitted', 'approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND {EAP_STEP.format("submitted")}) AS submitted,
           j.status IN ('approved', 'active', 'completed')
               OR (j.status IN ('declined', 'withdrawn') AND {EAP_STEP.format("approved")}) AS approved
    FROM eap_journey j
    JOIN patient p ON p.id = j.patient_id
    WHERE j.is_active {{where}}"""

# table -> (its key, its flags, the SELECT of its rows with a {where} slot, the key's source column)
COHORTS = {
    "lead_cohort": ("lead_id", ("converted", "ct_referred", "ct_enrolled"), LEAD_FLAGS, "l.id"),
    "eap_cohort": ("journey_id", ("submitted", "approved"), EAP_FLAGS, "j.id"),
}

TABLE = """
CREATE TABLE {table} (
    {key} uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    navigator_id uuid NULL,
    {flag_columns}
);
CREATE INDEX {table}_created_idx ON {table} (created_at) INCLUDE ({flags});
CREATE INDEX {table}_navigator_idx ON {table} (navigator_id, created_at) INCLUDE ({flags});
CREATE VIEW {table}_fresh AS {select_all};
CREATE FUNCTION {table}_of(ids uuid[]) RETURNS SETOF {table} LANGUAGE sql STABLE AS $${select_some}$$;
"""

# The lock: the patients the rows depend on, in id order, before anything is read (as the calls' trigger,
# 0011): a second writer of the same patient's leads, journeys or steps waits, then sees the first one's.
SQL = r"""
-- The leads `ids`, and the leads converted to the patients `pids`: their rows recomputed.
CREATE FUNCTION lead_cohort_refresh(ids uuid[], pids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 AND coalesce(cardinality(pids), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM patient WHERE id IN (
        SELECT unnest(pids) UNION SELECT l.converted_patient_id FROM patient_lead l WHERE l.id = ANY(ids)
    ) ORDER BY id FOR NO KEY UPDATE;
    IF coalesce(cardinality(pids), 0) > 0 THEN
        ids := coalesce(ids, '{}') || ARRAY(SELECT l.id FROM patient_lead l WHERE l.converted_patient_id = ANY(pids));
    END IF;
    DELETE FROM lead_cohort WHERE lead_id = ANY(ids);
    INSERT INTO lead_cohort SELECT * FROM lead_cohort_of(ids);
END
$$;

-- The EAP journeys `ids`, and those of the patients `pids`: their rows recomputed.
CREATE FUNCTION eap_cohort_refresh(ids uuid[], pids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 AND coalesce(cardinality(pids), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM patient WHERE id IN (
        SELECT unnest(pids) UNION SELECT j.patient_id FROM eap_journey j WHERE j.id = ANY(ids)
    ) ORDER BY id FOR NO KEY UPDATE;
    IF coalesce(cardinality(pids), 0) > 0 THEN
        ids := coalesce(ids, '{}') || ARRAY(SELECT j.id FROM eap_journey j WHERE j.patient_id = ANY(pids));
    END IF;
    DELETE FROM eap_cohort WHERE journey_id = ANY(ids);
    INSERT INTO eap_cohort SELECT * FROM eap_cohort_of(ids);
END
$$;

-- Both tables from scratch (check_report_rollups --repair, bench.generate).
CREATE FUNCTION report_cohorts_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE patient_lead, clinical_trial_journey, eap_journey, journey_status_change, patient
        IN SHARE ROW EXCLUSIVE MODE;
    TRUNCATE lead_cohort, eap_cohort;
    INSERT INTO lead_cohort SELECT * FROM lead_cohort_fresh;
    INSERT INTO eap_cohort SELECT * FROM eap_cohort_fresh;
END
$$;

-- patient_lead: the leads written whose cohort row may change (created, status, patient; any delete).
CREATE FUNCTION patient_lead_report_cohorts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id ORDER BY n.id) INTO ids FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.id ORDER BY o.id) INTO ids FROM old_rows o;
    ELSE
        SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.id), (n.id)) x(id)
        WHERE (o.created_at, o.status, o.converted_patient_id) IS DISTINCT FROM (n.created_at, n.status, n.converted_patient_id);
    END IF;
    PERFORM lead_cohort_refresh(ids, NULL);
    RETURN NULL;
END
$$;

-- clinical_trial_journey: the patients whose journeys changed in what the leads' flags read.
CREATE FUNCTION clinical_trial_journey_report_cohorts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pids uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.patient_id ORDER BY n.patient_id) INTO pids FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.patient_id ORDER BY o.patient_id) INTO pids FROM old_rows o;
    ELSE
        SELECT array_agg(DISTINCT x.patient_id ORDER BY x.patient_id) INTO pids
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.patient_id), (n.patient_id)) x(patient_id)
        WHERE (o.patient_id, o.is_active, o.created_at, o.status, o.enrollment_date)
              IS DISTINCT FROM (n.patient_id, n.is_active, n.created_at, n.status, n.enrollment_date);
    END IF;
    PERFORM lead_cohort_refresh(NULL, pids);
    RETURN NULL;
END
$$;

-- eap_journey: the journeys written whose cohort row may change.
CREATE FUNCTION eap_journey_report_cohorts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id ORDER BY n.id) INTO ids FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.id ORDER BY o.id) INTO ids FROM old_rows o;
    ELSE
        SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.id), (n.id)) x(id)
        WHERE (o.patient_id, o.is_active, o.created_at, o.status) IS DISTINCT FROM (n.patient_id, n.is_active, n.created_at, n.status);
    END IF;
    PERFORM eap_cohort_refresh(ids, NULL);
    RETURN NULL;
END
$$;

-- journey_status_change: the EAP journeys whose timeline changed (both sides of a moved step).
CREATE FUNCTION journey_status_change_report_cohorts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.eap_journey_id ORDER BY n.eap_journey_id) INTO ids
        FROM new_rows n WHERE n.eap_journey_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.eap_journey_id ORDER BY o.eap_journey_id) INTO ids
        FROM old_rows o WHERE o.eap_journey_id IS NOT NULL;
    ELSE
        SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.eap_journey_id), (n.eap_journey_id)) x(id)
        WHERE x.id IS NOT NULL
          AND (o.eap_journey_id, o.to_status) IS DISTINCT FROM (n.eap_journey_id, n.to_status);
    END IF;
    PERFORM eap_cohort_refresh(ids, NULL);
    RETURN NULL;
END
$$;

-- patient: a patient who changes navigator moves their leads' and EAP journeys' rows.
CREATE FUNCTION patient_report_cohorts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pids uuid[];
BEGIN
    SELECT array_agg(n.id ORDER BY n.id) INTO pids
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.navigator_id IS DISTINCT FROM n.navigator_id;
    IF pids IS NOT NULL THEN
        PERFORM lead_cohort_refresh(NULL, pids);
        PERFORM eap_cohort_refresh(NULL, pids);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION report_cohorts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'patient_lead' THEN
        TRUNCATE lead_cohort;
    ELSIF TG_TABLE_NAME = 'eap_journey' THEN
        TRUNCATE eap_cohort;
    ELSIF TG_TABLE_NAME = 'clinical_trial_journey' THEN
        TRUNCATE lead_cohort;
        INSERT INTO lead_cohort SELECT * FROM lead_cohort_fresh;
    ELSE
        TRUNCATE eap_cohort;
        INSERT INTO eap_cohort SELECT * FROM eap_cohort_fresh;
    END IF;
    RETURN NULL;
END
$$;
"""

# (trigger table, its function): an insert, update, delete and truncate trigger each (patient: update only).
TRIGGERS = (
    ("patient_lead", "patient_lead_report_cohorts"),
    ("clinical_trial_journey", "clinical_trial_journey_report_cohorts"),
    ("eap_journey", "eap_journey_report_cohorts"),
    ("journey_status_change", "journey_status_change_report_cohorts"),
)
TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def trigger_names() -> list[tuple[str, str]]:
    """(trigger, table): every trigger this migration creates (bench.generate switches them off)."""
    names = [(f"{table}_report_cohorts_{op}", table) for table, _ in TRIGGERS for op in (*TRANSITIONS, "truncate")]
    return [*names, ("patient_report_cohorts_update", "patient")]


def _sql() -> str:
    parts = []
    for table, (key, flags, select, key_column) in COHORTS.items():
        parts.append(
            TABLE.format(
                table=table,
                key=key,
                flags=", ".join(flags),
                flag_columns=",\n    ".join(f"{flag} boolean NOT NULL" for flag in flags),
                select_all=select.format(where=""),
                select_some=select.format(where=f"AND {key_column} = ANY(ids)"),
            )
        )
    parts.append(SQL)
    for table, function in TRIGGERS:
        for op, transitions in TRANSITIONS.items():
            parts.append(
                f"CREATE TRIGGER {table}_report_cohorts_{op} AFTER {op.upper()} ON {table} {transitions} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
            )
        parts.append(
            f"CREATE TRIGGER {table}_report_cohorts_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION report_cohorts_truncate();"
        )
    parts.append(
        "CREATE TRIGGER patient_report_cohorts_update AFTER UPDATE ON patient "
        f"{TRANSITIONS['update']} FOR EACH STATEMENT EXECUTE FUNCTION patient_report_cohorts();"
    )
    return "\n".join(parts)


DROP = """
DROP FUNCTION report_cohorts_truncate() CASCADE;
DROP FUNCTION patient_report_cohorts() CASCADE;
DROP FUNCTION journey_status_change_report_cohorts() CASCADE;
DROP FUNCTION eap_journey_report_cohorts() CASCADE;
DROP FUNCTION clinical_trial_journey_report_cohorts() CASCADE;
DROP FUNCTION patient_lead_report_cohorts() CASCADE;
DROP FUNCTION report_cohorts_rebuild();
DROP FUNCTION eap_cohort_refresh(uuid[], uuid[]);
DROP FUNCTION lead_cohort_refresh(uuid[], uuid[]);
DROP FUNCTION eap_cohort_of(uuid[]);
DROP FUNCTION lead_cohort_of(uuid[]);
DROP VIEW eap_cohort_fresh;
DROP VIEW lead_cohort_fresh;
DROP TABLE eap_cohort;
DROP TABLE lead_cohort;
"""


def create(apps, schema_editor):
    schema_editor.execute(_sql(), params=None)
    schema_editor.execute("SELECT report_cohorts_rebuild()", params=None)


def drop(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0014_call_no_show_index"),
        ("journeys", "0007_audit_event_label_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
