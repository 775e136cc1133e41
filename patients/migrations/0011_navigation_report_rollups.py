# Written by hand: the navigation report's summary tables, kept exact by statement-level triggers
# (docs/REPORTS.md, "Navigation report", "Summary tables"; patients/report_rollups.py reads and checks them).
#
# The SQL lives here but for what the day, week and block tables share: those texts are written once, in
# patients/report_rollups.py (its "SQL of the day and week tables"), and a test pins the text this migration
# generates, so that a later edit there cannot silently change what it creates. The functions it creates are
# the single definition the triggers, the rebuild (`report_rollups_rebuild`) and the check (the `*_fresh`
# views) share.

from django.conf import settings
from django.db import migrations

from patients import report_rollups as templates

SQL = r"""
-- The local time zone the rollups' days are counted in (settings.TIME_ZONE when they were last rebuilt).
-- report_rollups_rebuild(tz) redefines it; the report uses the rollups only when it equals TIME_ZONE.
CREATE FUNCTION report_rollup_time_zone() RETURNS text LANGUAGE sql STABLE AS $$ SELECT {tz}::text $$;

-- Non-void calls per local day and navigator (call_history.pn_id), and per ISO week (its Monday) and
-- navigator: the count, outbound, reached outbound, timed calls, summed minutes and one count per outcome.
-- A report reads the weeks that lie whole in its period from the week table, the others' days from the day
-- table. The outcome columns are those of CallOutcome when this was written (adding an outcome needs a
-- migration for its CHECK constraint anyway; tests/patients/test_report_rollups.py fails until the rollups
-- gain its column too).
{call_rollup_tables}

-- The Monday of a day's ISO week (no time zone involved: the day is already local).
CREATE FUNCTION report_week(day date) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT day - (extract(isodow FROM day)::integer - 1)
$$;
-- The first Monday of a day's block of 16 ISO weeks (blocks counted from Monday 2000-01-03; Python's
-- patients.report_rollups.report_block says the same).
CREATE FUNCTION report_block(day date) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DATE '2000-01-03' + floor((day - DATE '2000-01-03') / 112.0)::integer * 112
$$;

-- Each patient's overdue spans: the local days [from_day, to_day] (to_day NULL: open) on whose evening the
-- patient's latest non-void call made by then has a reminder on or before that day. One span per call
-- with a reminder whose span is not empty; the spans of a patient do not overlap.
CREATE TABLE follow_up_overdue_span (
    patient_id uuid NOT NULL,
    from_day date NOT NULL,
    to_day date NULL
);
CREATE INDEX follow_up_overdue_span_patient_idx ON follow_up_overdue_span (patient_id);

-- The spans of the counted patients (active, not deleted, with a navigator) as changes per navigator and
-- day: +1 on from_day, -1 on to_day + 1. Overdue follow-ups at the end of day D = sum(delta) for day <= D.
-- The same per ISO week (its Monday), and per block of 16 weeks (report_block: its first Monday): the stock at
-- a Sunday is the sum of the blocks before its own, then of the weeks of its block up to it. A report reads a
-- row per navigator and block (a few dozen) and per week of its period's block, not every day since the first
-- call; the day table serves a period that ends before its last Sunday.
{delta_tables}

-- The from-scratch computations: the rebuild fills the tables from them, check_report_rollups compares.
{call_fresh_views}

-- The spans of the patients `ids` (every patient when NULL), from their non-void calls in order (call
-- date, then the later logged), as the report's replay defines them.
CREATE FUNCTION follow_up_overdue_spans_of(ids uuid[]) RETURNS TABLE (patient_id uuid, from_day date, to_day date)
LANGUAGE sql STABLE AS $$
    SELECT s.patient_id, s.from_day, s.to_day
    FROM (
        SELECT c.patient_id,
               GREATEST(c.reminder_date, (c.call_date AT TIME ZONE report_rollup_time_zone())::date) AS from_day,
               (lead(c.call_date) OVER (PARTITION BY c.patient_id ORDER BY c.call_date, c.created_at)
                   AT TIME ZONE report_rollup_time_zone())::date - 1 AS to_day,
               c.reminder_date
        FROM call_history c
        WHERE c.is_active AND (ids IS NULL OR c.patient_id = ANY(ids))
    ) s
    WHERE s.reminder_date IS NOT NULL AND (s.to_day IS NULL OR s.from_day <= s.to_day)
$$;

CREATE VIEW follow_up_overdue_span_fresh AS SELECT * FROM follow_up_overdue_spans_of(NULL);

-- Deltas from the stored spans (check: the delta table against its spans; the spans against the calls).
CREATE VIEW follow_up_overdue_delta_fresh AS
SELECT p.navigator_id, d.day, sum(d.delta)::integer AS delta
FROM follow_up_overdue_span s
JOIN patient p ON p.id = s.patient_id AND p.status = 'active' AND p.is_active AND p.navigator_id IS NOT NULL
CROSS JOIN LATERAL (VALUES (s.from_day, 1), (s.to_day + 1, -1)) d(day, delta)
WHERE d.day IS NOT NULL
GROUP BY 1, 2 HAVING sum(d.delta) <> 0;

{delta_fresh_views}

-- Recompute the spans of the patients `ids` from their calls and move the deltas accordingly. The
-- patients' rows are locked first (in id order): a second writer for the same patient waits, and its
-- next statements see the first one's spans (READ COMMITTED takes a snapshot per statement).
CREATE FUNCTION follow_up_overdue_refresh(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM patient WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    WITH gone AS (
        DELETE FROM follow_up_overdue_span s WHERE s.patient_id = ANY(ids) RETURNING s.*
    ), added AS (
        INSERT INTO follow_up_overdue_span (patient_id, from_day, to_day)
        SELECT * FROM follow_up_overdue_spans_of(ids) RETURNING *
    ), changes AS (
        SELECT g.*, -1 AS sign FROM gone g UNION ALL SELECT a.*, 1 FROM added a
    ), deltas AS (
        SELECT p.navigator_id, d.day, sum(d.delta * c.sign)::integer AS delta
        FROM changes c
        JOIN patient p ON p.id = c.patient_id AND p.status = 'active' AND p.is_active AND p.navigator_id IS NOT NULL
        CROSS JOIN LATERAL (VALUES (c.from_day, 1), (c.to_day + 1, -1)) d(day, delta)
        WHERE d.day IS NOT NULL
        GROUP BY 1, 2 HAVING sum(d.delta * c.sign) <> 0
    {delta_upserts}
END
$$;

-- call_history: one function per statement kind (each sees its own transition tables).
CREATE FUNCTION call_history_report_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tz text := report_rollup_time_zone();
    ids uuid[];
BEGIN
    -- The statement's calls as signed rows (+1 inserted or new version, -1 deleted or old version), summed
    -- per day and navigator, then per week: an edit that changes nothing counted nets to no row.
    IF TG_OP = 'INSERT' THEN
        {rollup_insert}
    ELSIF TG_OP = 'DELETE' THEN
        {rollup_delete}
    ELSE
        {rollup_update}
    END IF;

    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.patient_id ORDER BY n.patient_id) INTO ids FROM new_rows n WHERE n.is_active;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.patient_id ORDER BY o.patient_id) INTO ids FROM old_rows o WHERE o.is_active;
    ELSE
        -- The patients whose calls changed in what the spans read (both sides of a moved call).
        SELECT array_agg(DISTINCT x.patient_id ORDER BY x.patient_id) INTO ids
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.patient_id), (n.patient_id)) x(patient_id)
        WHERE (o.patient_id, o.call_date, o.created_at, o.reminder_date, o.is_active)
              IS DISTINCT FROM (n.patient_id, n.call_date, n.created_at, n.reminder_date, n.is_active);
    END IF;
    PERFORM follow_up_overdue_refresh(ids);
    RETURN NULL;
END
$$;

CREATE TRIGGER call_history_report_rollups_insert AFTER INSERT ON call_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION call_history_report_rollups();
CREATE TRIGGER call_history_report_rollups_update AFTER UPDATE ON call_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION call_history_report_rollups();
CREATE TRIGGER call_history_report_rollups_delete AFTER DELETE ON call_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION call_history_report_rollups();

CREATE FUNCTION report_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE call_day_rollup, call_week_rollup, follow_up_overdue_span, follow_up_overdue_delta,
             follow_up_overdue_week_delta, follow_up_overdue_block_delta;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_history_report_rollups_truncate AFTER TRUNCATE ON call_history
    FOR EACH STATEMENT EXECUTE FUNCTION report_rollups_truncate();

-- patient: a patient who starts or stops counting (status, soft delete, navigator) or changes navigator
-- moves their spans' deltas from the old navigator to the new one.
CREATE FUNCTION patient_report_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        SELECT o.id,
               CASE WHEN o.status = 'active' AND o.is_active THEN o.navigator_id END AS old_navigator,
               CASE WHEN n.status = 'active' AND n.is_active THEN n.navigator_id END AS new_navigator
        FROM old_rows o JOIN new_rows n ON n.id = o.id
    ), changes AS (
        SELECT m.old_navigator AS navigator_id, s.from_day, s.to_day, -1 AS sign
        FROM moved m JOIN follow_up_overdue_span s ON s.patient_id = m.id
        WHERE m.old_navigator IS DISTINCT FROM m.new_navigator AND m.old_navigator IS NOT NULL
        UNION ALL
        SELECT m.new_navigator, s.from_day, s.to_day, 1
        FROM moved m JOIN follow_up_overdue_span s ON s.patient_id = m.id
        WHERE m.old_navigator IS DISTINCT FROM m.new_navigator AND m.new_navigator IS NOT NULL
    ), deltas AS (
        SELECT c.navigator_id, d.day, sum(d.delta * c.sign)::integer AS delta
        FROM changes c
        CROSS JOIN LATERAL (VALUES (c.from_day, 1), (c.to_day + 1, -1)) d(day, delta)
        WHERE d.day IS NOT NULL
        GROUP BY 1, 2 HAVING sum(d.delta * c.sign) <> 0
    {delta_upserts}
    RETURN NULL;
END
$$;
CREATE TRIGGER patient_report_rollups_update AFTER UPDATE ON patient
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_report_rollups();

-- Empty the three tables and fill them from scratch, in the time zone `tz`.
CREATE FUNCTION report_rollups_rebuild(tz text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF tz IS DISTINCT FROM report_rollup_time_zone() THEN
        PERFORM now() AT TIME ZONE tz;  -- an unknown zone fails here, before anything changes
        EXECUTE format(
            'CREATE OR REPLACE FUNCTION report_rollup_time_zone() RETURNS text LANGUAGE sql STABLE AS %L',
            format('SELECT %L::text', tz));
    END IF;
    -- Whoever writes calls meanwhile waits: the tables are rebuilt from one state of the calls.
    LOCK TABLE call_history, patient IN SHARE ROW EXCLUSIVE MODE;
    TRUNCATE call_day_rollup, call_week_rollup, follow_up_overdue_span, follow_up_overdue_delta,
             follow_up_overdue_week_delta, follow_up_overdue_block_delta;
    INSERT INTO call_day_rollup SELECT * FROM call_day_rollup_fresh;
    INSERT INTO call_week_rollup SELECT * FROM call_week_rollup_fresh;
    INSERT INTO follow_up_overdue_span SELECT * FROM follow_up_overdue_span_fresh;
    INSERT INTO follow_up_overdue_delta SELECT * FROM follow_up_overdue_delta_fresh;
    INSERT INTO follow_up_overdue_week_delta SELECT * FROM follow_up_overdue_week_delta_fresh;
    INSERT INTO follow_up_overdue_block_delta SELECT * FROM follow_up_overdue_block_delta_fresh;
END
$$;
"""

DROP = """
DROP TRIGGER IF EXISTS patient_report_rollups_update ON patient;
DROP TRIGGER IF EXISTS call_history_report_rollups_insert ON call_history;
DROP TRIGGER IF EXISTS call_history_report_rollups_update ON call_history;
DROP TRIGGER IF EXISTS call_history_report_rollups_delete ON call_history;
DROP TRIGGER IF EXISTS call_history_report_rollups_truncate ON call_history;
DROP FUNCTION report_rollups_rebuild(text);
DROP FUNCTION patient_report_rollups();
DROP FUNCTION report_rollups_truncate();
DROP FUNCTION call_history_report_rollups();
DROP FUNCTION follow_up_overdue_refresh(uuid[]);
DROP VIEW follow_up_overdue_block_delta_fresh;
DROP VIEW follow_up_overdue_week_delta_fresh;
DROP VIEW follow_up_overdue_delta_fresh;
DROP VIEW follow_up_overdue_span_fresh;
DROP FUNCTION follow_up_overdue_spans_of(uuid[]);
DROP VIEW call_week_rollup_fresh;
DROP VIEW call_day_rollup_fresh;
DROP TABLE follow_up_overdue_block_delta;
DROP TABLE follow_up_overdue_week_delta;
DROP TABLE follow_up_overdue_delta;
DROP TABLE follow_up_overdue_span;
DROP TABLE call_week_rollup;
DROP TABLE call_day_rollup;
DROP FUNCTION report_block(date);
DROP FUNCTION report_week(date);
DROP FUNCTION report_rollup_time_zone();
"""


# CallOutcome's values when this migration was written (a migration does not follow later code).
OUTCOMES = ("reached", "voicemail", "no_answer", "busy", "wrong_number", "callback_requested", "not_recorded")
# Each counted column and its value for one call row x (multiplied by x.sign in the triggers).
COUNTS = {
    "calls": "1",
    "outbound_calls": "(x.direction = 'outbound')::integer",
    "reached_outbound_calls": "(x.direction = 'outbound' AND x.outcome = 'reached')::integer",
    "timed_calls": "(x.call_duration_minutes IS NOT NULL)::integer",
    "minutes": "coalesce(x.call_duration_minutes, 0)",
    **{f"outcome_{o}": f"(x.outcome = '{o}')::integer" for o in OUTCOMES},
}


ROLLUP = """
        WITH changed AS (
            SELECT (x.call_date AT TIME ZONE tz)::date AS day, x.pn_id AS navigator_id, {signed_columns}
            FROM ({source}) x
        ), by_day AS (
            SELECT day, navigator_id, {sums} FROM changed GROUP BY 1, 2 HAVING {any_nonzero}
        ), {call_upserts}"""
NEW_ROWS = "SELECT n.*, 1 AS sign FROM new_rows n WHERE n.is_active"
OLD_ROWS = "SELECT o.*, -1 AS sign FROM old_rows o WHERE o.is_active"


def _sql() -> str:
    names = list(COUNTS)
    parts = {
        "count_columns": ",\n    ".join(f"{n} {'bigint' if n == 'minutes' else 'integer'} NOT NULL" for n in names),
        "fresh_sums": ",\n       ".join(
            f"sum({e.replace('x.', 'c.')})::{'bigint' if n == 'minutes' else 'integer'} AS {n}" for n, e in COUNTS.items()
        ),
        "signed_columns": ", ".join(f"x.sign * {e} AS {n}" for n, e in COUNTS.items()),
        "sums": ", ".join(f"sum({n}) AS {n}" for n in names),
        "any_nonzero": " OR ".join(f"sum({n}) <> 0" for n in names),
        "increments": ", ".join(f"{n} = r.{n} + EXCLUDED.{n}" for n in names),
        "tz": _literal(settings.TIME_ZONE),
    }
    parts["call_rollup_tables"] = templates.call_rollup_tables_sql(parts["count_columns"])
    parts["call_fresh_views"] = templates.call_rollup_fresh_views_sql(parts["fresh_sums"])
    parts["delta_tables"] = templates.delta_tables_sql()
    parts["delta_fresh_views"] = templates.delta_fresh_views_sql()
    parts["delta_upserts"] = templates.delta_upserts_sql()
    rollup = ROLLUP.replace("{call_upserts}", templates.call_rollup_upserts_sql(parts["sums"], parts["increments"]))
    parts["rollup_insert"] = rollup.replace("{source}", NEW_ROWS)
    parts["rollup_delete"] = rollup.replace("{source}", OLD_ROWS)
    parts["rollup_update"] = rollup.replace("{source}", f"{NEW_ROWS} UNION ALL {OLD_ROWS}")
    text = SQL
    for key in ("rollup_insert", "rollup_delete", "rollup_update"):
        text = text.replace("{" + key + "}", parts.pop(key).strip())
    for key, value in parts.items():
        text = text.replace("{" + key + "}", value)
    return text


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create(apps, schema_editor):
    schema_editor.execute(_sql(), params=None)
    schema_editor.execute(f"SELECT report_rollups_rebuild({_literal(settings.TIME_ZONE)})", params=None)


def drop(apps, schema_editor):
    schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0010_audit_event_label_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
