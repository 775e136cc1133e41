# Written by hand: patient.open_journeys (patients.0016) kept exact by statement-level triggers on the two
# journey tables, then filled once from the journeys (docs/ARCHITECTURE.md, "Maintained columns";
# journeys/open_journeys.py reads, checks and repairs it).
#
# Self-contained on purpose: the final statuses are written out here, not imported from journeys.transitions,
# so that a later edit of the code cannot change what this migration did (a new final status needs a migration
# that redefines journey_is_open and runs patient_open_journeys_repair()).

from django.db import migrations

CT_FINAL = ("completed", "ineligible", "declined", "withdrawn")
EAP_FINAL = ("completed", "declined", "withdrawn")


def _array(values) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


_OPEN = "journey_is_open(TG_TABLE_NAME, r.status, r.is_active)"


def _apply(rows: str) -> str:
    """Add the per-patient sum of ``rows`` (patient_id, +1/-1) to patient.open_journeys, the patients locked
    in key order first (two bulk statements over the same patients wait instead of deadlocking); a sum of 0
    (a note edited, a move between two open statuses) updates no patient."""
    return f"""WITH changes AS (
            SELECT patient_id, sum(n)::integer AS n FROM ({rows}) c GROUP BY patient_id HAVING sum(n) <> 0
        ), locked AS (
            SELECT p.id, c.n FROM patient p JOIN changes c ON c.patient_id = p.id ORDER BY p.id FOR NO KEY UPDATE OF p
        )
        UPDATE patient p SET open_journeys = p.open_journeys + l.n FROM locked l WHERE p.id = l.id;"""


SQL = f"""
-- Does a journey row count as open: not deleted, and not in a final status of its kind.
CREATE FUNCTION journey_is_open(kind text, status text, is_active boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT is_active AND CASE kind
        WHEN 'clinical_trial_journey' THEN status <> ALL({_array(CT_FINAL)})
        WHEN 'eap_journey' THEN status <> ALL({_array(EAP_FINAL)})
    END
$$;

-- The from-scratch count: each patient with at least one open journey, and how many.
CREATE VIEW patient_open_journeys_fresh AS
SELECT j.patient_id, count(*)::integer AS n
FROM (
    SELECT patient_id FROM clinical_trial_journey WHERE journey_is_open('clinical_trial_journey', status, is_active)
    UNION ALL
    SELECT patient_id FROM eap_journey WHERE journey_is_open('eap_journey', status, is_active)
) j
GROUP BY j.patient_id;

-- Rewrite every patient whose stored count differs from the fresh one; returns how many were rewritten.
CREATE FUNCTION patient_open_journeys_repair() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    fixed integer;
BEGIN
    WITH wrong AS (
        SELECT p.id, COALESCE(f.n, 0) AS n
        FROM patient p LEFT JOIN patient_open_journeys_fresh f ON f.patient_id = p.id
        WHERE p.open_journeys <> COALESCE(f.n, 0)
        ORDER BY p.id
        FOR NO KEY UPDATE OF p
    )
    UPDATE patient p SET open_journeys = w.n FROM wrong w WHERE p.id = w.id;
    GET DIAGNOSTICS fixed = ROW_COUNT;
    RETURN fixed;
END
$$;

-- One function for every statement on either journey table: the open rows it removed (old_rows) count -1,
-- the open rows it left (new_rows) +1, summed per patient. TRUNCATE recounts everyone.
CREATE FUNCTION patient_open_journeys_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM patient_open_journeys_repair();
    ELSIF TG_OP = 'INSERT' THEN
        {_apply("SELECT r.patient_id, 1 AS n FROM new_rows r WHERE " + _OPEN)}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply("SELECT r.patient_id, -1 AS n FROM old_rows r WHERE " + _OPEN)}
    ELSE
        {_apply(
            "SELECT r.patient_id, 1 AS n FROM new_rows r WHERE " + _OPEN
            + " UNION ALL SELECT r.patient_id, -1 FROM old_rows r WHERE " + _OPEN
        )}
    END IF;
    RETURN NULL;
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER {table}_open_journeys_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_open_journeys_apply();
CREATE TRIGGER {table}_open_journeys_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_open_journeys_apply();
CREATE TRIGGER {table}_open_journeys_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_open_journeys_apply();
CREATE TRIGGER {table}_open_journeys_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION patient_open_journeys_apply();
"""

DROP_TRIGGERS = """
DROP TRIGGER {table}_open_journeys_insert ON {table};
DROP TRIGGER {table}_open_journeys_update ON {table};
DROP TRIGGER {table}_open_journeys_delete ON {table};
DROP TRIGGER {table}_open_journeys_truncate ON {table};
"""

TABLES = ("clinical_trial_journey", "eap_journey")

FORWARD = SQL + "".join(TRIGGERS.format(table=t) for t in TABLES) + "SELECT patient_open_journeys_repair();"
BACKWARD = (
    "".join(DROP_TRIGGERS.format(table=t) for t in TABLES)
    + """
DROP FUNCTION patient_open_journeys_apply();
DROP FUNCTION patient_open_journeys_repair();
DROP VIEW patient_open_journeys_fresh;
DROP FUNCTION journey_is_open(text, text, boolean);
UPDATE patient SET open_journeys = 0 WHERE open_journeys <> 0;
"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("journeys", "0007_audit_event_label_indexes"),
        ("patients", "0016_patient_open_journeys"),
    ]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)]
