"""Enrollments, the points ledger and the totals of ``migrate_cm_patients``, set-based over the staging tables.

* Each old enrollment becomes one ``cm_enrollments`` row of its patient's canonical identity and CM
  profile (one per patient per program: two old enrollments of one human in one program become one, and
  the second one's points go to it). Its CPSS is the migrated provider.
* Caseload limit (``max_caseload``): a CPSS never holds more active enrollments than the limit. A CPSS
  that this run creates has no limit of its own yet, so its limit is raised to hold the caseload it had
  in the old system (a note in the report says so; a supervisor reassigns and lowers it later). A CPSS
  that already exists keeps its limit: active enrollments beyond it (the latest enrolled first) are
  migrated without a CPSS and reported, to be assigned by a supervisor. An inactive CPSS takes none.
* The ledger is append-only: old transactions become new entries (never edits) with their points and
  time, numbered after the enrollment's existing entries in time order, with the negative-test streak
  replayed (``selectors.streak_from_ledger``'s rule). No enrollment bonus is invented.
* Then ``total_points`` and ``current_streak`` are set from the ledger, and every enrollment whose old
  values differ is reported with both. A ledger that sums below zero gets one balancing manual
  adjustment (a balance cannot be negative), reported.
"""

from __future__ import annotations

from django.db import connection

from cm_program.imports.cm_patients.identities import _mapped, _mark_duplicates, _run
from cm_program.imports.cm_patients.staging import LEDGER_ENTRY_ID

ENROLLABLE = "e.problem IS NULL AND e.dup_of IS NULL"


def resolve_enrollment_programs(*, program_id: str | None, programs_file: bool) -> None:
    """Each old enrollment's program: by the old program id (contingency_management.csv) or ``--program``."""
    if programs_file:
        statements = [
            f"""
            UPDATE s_enrollment e SET program_id = p.program_id FROM s_program p
            WHERE p.old_id = e.cm_program_id_placeholder AND p.dup_of IS NULL AND p.program_id IS NOT NULL
              AND {ENROLLABLE}
            """.replace("e.cm_program_id_placeholder", "e.program_old_id"),
            f"""
            UPDATE s_enrollment e SET
                   problem = 'cm_program_id is not a migrated program of contingency_management.csv: not migrated',
                   detail = coalesce(nullif(e.program_old_id, ''), '(empty)')
            WHERE e.program_id IS NULL AND {ENROLLABLE}
            """,
        ]
    else:
        statements = [(f"UPDATE s_enrollment e SET program_id = %s WHERE {ENROLLABLE}", [program_id])]
    _run([_mark_duplicates("s_enrollment"), *statements])


def resolve_enrollment_providers() -> None:
    _run(
        [
            f"""
            UPDATE s_enrollment e SET provider_id = p.provider_id FROM s_provider p
            WHERE p.old_id = e.cpss_old_id AND p.dup_of IS NULL AND p.provider_id IS NOT NULL AND {ENROLLABLE}
            """,
            f"""
            UPDATE s_enrollment e SET warning = concat_ws('; ', e.warning,
                   'cpss_provider_id ' || e.cpss_old_id || ' is not a migrated provider of providers.csv: enrolled'
                   || ' without a CPSS')
            WHERE e.provider_id IS NULL AND e.cpss_old_id <> '' AND {ENROLLABLE}
            """,
        ]
    )


def create_enrollments() -> list[str]:
    """``cm_enrollments`` rows for the old enrollments; returns notes for the report (raised limits)."""
    _run(
        [
            f"""
            UPDATE s_enrollment e SET canonical_id = p.canonical_id, profile_id = p.profile_id FROM s_patient p
            WHERE p.old_id = e.patient_old_id AND p.dup_of IS NULL AND p.problem IS NULL
              AND p.canonical_id IS NOT NULL AND p.profile_id IS NOT NULL AND {ENROLLABLE}
            """,
            f"""
            UPDATE s_enrollment e SET problem = 'its patient was not migrated',
                   detail = 'patients.csv line ' || p.line || ': ' || coalesce(p.reason, 'no canonical identity')
            FROM s_patient p
            WHERE e.canonical_id IS NULL AND p.old_id = e.patient_old_id AND p.dup_of IS NULL AND {ENROLLABLE}
            """,
            f"""
            UPDATE s_enrollment e SET problem = 'patient_id is not in patients.csv', detail = e.patient_old_id
            WHERE e.canonical_id IS NULL AND {ENROLLABLE}
            """,
            *_mapped(
                "s_enrollment", "cm_patients", "enrollment_id", "cm_enrollments", where=ENROLLABLE.replace("e.", "s.")
            ),
            f"""
            UPDATE s_enrollment e SET enrollment_id = ce.id, matched_existing = true FROM cm_enrollments ce
            WHERE ce.canonical_patient_id = e.canonical_id AND ce.cm_program_id = e.program_id
              AND e.enrollment_id IS NULL AND {ENROLLABLE}
            """,
            # One enrollment per patient per program: the first old row makes it, later ones merge into it.
            f"""
            UPDATE s_enrollment e SET merged_into = f.first_line FROM (
                SELECT line, first_value(line) OVER (PARTITION BY canonical_id, program_id ORDER BY line) AS first_line
                FROM s_enrollment e WHERE e.enrollment_id IS NULL AND {ENROLLABLE}
            ) f
            WHERE e.line = f.line AND f.first_line <> e.line
            """,
            f"""
            UPDATE s_enrollment e SET enrollment_id = gen_random_uuid(), created = true
            WHERE e.enrollment_id IS NULL AND e.merged_into IS NULL AND {ENROLLABLE}
            """,
            # The caseload rule, under the CPSS rows' locks (as the services take them).
            """
            SELECT 1 FROM providers_cm WHERE id IN (SELECT provider_id FROM s_enrollment WHERE created)
            ORDER BY id FOR UPDATE
            """,
            """
            UPDATE s_enrollment e SET provider_id = NULL, warning = concat_ws('; ', e.warning,
                   'the CPSS ' || p.first_name || ' ' || p.last_name || ' is inactive: enrolled without a CPSS')
            FROM providers_cm p
            WHERE p.id = e.provider_id AND e.created AND e.status = 'active' AND p.status <> 'active'
            """,
        ]
    )
    notes: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH need AS (
                SELECT e.provider_id, count(*) AS incoming,
                       (SELECT count(*) FROM cm_enrollments ce
                        WHERE ce.cpss_provider_id = e.provider_id AND ce.status = 'active') AS holding
                FROM s_enrollment e
                WHERE e.created AND e.status = 'active' AND e.provider_id IN (SELECT provider_id FROM s_provider
                                                                              WHERE created)
                GROUP BY e.provider_id
            ), old AS (SELECT id, max_caseload FROM providers_cm WHERE id IN (SELECT provider_id FROM need))
            UPDATE providers_cm p SET max_caseload = need.incoming + need.holding, updated_at = now()
            FROM need, old
            WHERE p.id = need.provider_id AND old.id = p.id AND need.incoming + need.holding > p.max_caseload
            RETURNING p.first_name, p.last_name, old.max_caseload, p.max_caseload
            """
        )
        for first, last, before, after in cursor.fetchall():
            notes.append(
                f"CPSS {first} {last} had {after} active patients in the old system: max_caseload raised from "
                f"{before} to {after} (reassign, then lower it)."
            )
    _run(
        [
            """
            UPDATE s_enrollment e SET provider_id = NULL, warning = concat_ws('; ', e.warning,
                   'the CPSS ' || r.first_name || ' ' || r.last_name || ' is at capacity (' || r.holding || ' of '
                   || r.max_caseload || ' active): enrolled without a CPSS; assign one')
            FROM (
                SELECT e.line, p.first_name, p.last_name, p.max_caseload, h.holding,
                       row_number() OVER (PARTITION BY e.provider_id
                                          ORDER BY e.enrollment_date NULLS LAST, e.line) AS rank
                FROM s_enrollment e JOIN providers_cm p ON p.id = e.provider_id
                JOIN (SELECT p.id AS provider_id, count(ce.id) AS holding
                      FROM providers_cm p LEFT JOIN cm_enrollments ce
                        ON ce.cpss_provider_id = p.id AND ce.status = 'active'
                      WHERE p.id IN (SELECT provider_id FROM s_enrollment WHERE created)
                      GROUP BY p.id) h ON h.provider_id = e.provider_id
                WHERE e.created AND e.status = 'active'
            ) r
            WHERE e.line = r.line AND r.rank > r.max_caseload - r.holding
            """,
            """
            INSERT INTO cm_enrollments (id, canonical_patient_id, cm_patient_id, cm_program_id, cpss_provider_id,
                                        enrollment_date, status, medicaid_verification, pod_assignment, notes)
            SELECT enrollment_id, canonical_id, profile_id, program_id, provider_id, coalesce(enrollment_date, now()),
                   status, medicaid, pod, notes
            FROM s_enrollment WHERE created
            """,
            # The status history's first row (cm_enrollment_status_changes), dated at the enrollment date: the
            # old system kept no dates of status changes, so an enrollment exported as ended starts ended.
            """
            INSERT INTO cm_enrollment_status_changes (enrollment_id, from_status, to_status, changed_at, reason)
            SELECT ce.id, NULL, ce.status, ce.enrollment_date, 'migrate_cm_patients: status as exported'
            FROM s_enrollment e JOIN cm_enrollments ce ON ce.id = e.enrollment_id
            WHERE e.created
            """,
            """
            UPDATE s_enrollment e SET enrollment_id = f.enrollment_id FROM s_enrollment f
            WHERE e.merged_into = f.line
            """,
        ]
    )
    return notes


# The fields of an enrollment that a later export may change (issue 11: "updates only the non-identity
# fields that the importer itself wrote and nobody has edited since"): staged column -> cm_enrollments column.
REFRESHED = {"status": "status", "pod": "pod_assignment", "notes": "notes", "medicaid": "medicaid_verification"}


def _as_json(column: str) -> str:
    return f"coalesce(to_jsonb({column}), 'null'::jsonb)"


def refresh_enrollments() -> None:
    """A second run's changes to enrollments it made before.

    The mapping keeps what the import wrote (``written``). For each field of ``REFRESHED`` whose value in
    the export differs from it: when the enrollment still holds what the import wrote, the export's value
    is stored (``updated``); when someone changed it in the CRM since, the CRM's value is kept and the
    report says so (``conflict``), and the mapping keeps the old written value so that a later run still
    sees the edit. A status that becomes active while the enrollment's CPSS is at capacity is kept too (the
    caseload rule). A mapping of an older run that recorded nothing is treated as an edit when the values
    differ (nothing says the import wrote them)."""
    values = ", ".join(
        f"('{column}', {_as_json('e.' + staged)}, e.written_before -> '{column}', {_as_json('ce.' + column)})"
        for staged, column in REFRESHED.items()
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM s_enrollment WHERE mapped OR created)")
        if not cursor.fetchone()[0]:
            return
    _run(
        [
            f"""
            UPDATE s_enrollment e SET written_before = coalesce(m.written, '{{}}'::jsonb)
            FROM import_mapping m
            WHERE e.mapped AND {ENROLLABLE} AND m.source = 'cm_patients' AND m.old_table = 'cm_patients'
              AND m.old_id = e.old_id
            """,
            "DROP TABLE IF EXISTS s_enrollment_fields",
            # One row per field that changed in the export, for the first old row of each enrollment.
            f"""
            CREATE TEMP TABLE s_enrollment_fields ON COMMIT DROP AS
            SELECT e.line, e.enrollment_id, f.field, f.new, f.written, f.current,
                   CASE WHEN f.current = f.new THEN 'same'
                        WHEN f.written IS NULL OR f.current <> f.written THEN 'kept'
                        ELSE 'update' END AS action
              FROM (SELECT e.*, min(e.line) OVER (PARTITION BY e.enrollment_id) AS first_line
                      FROM s_enrollment e WHERE e.mapped AND {ENROLLABLE}) e
              JOIN cm_enrollments ce ON ce.id = e.enrollment_id
              CROSS JOIN LATERAL (VALUES {values}) AS f(field, new, written, current)
             WHERE e.line = e.first_line AND e.merged_into IS NULL
               AND f.new IS DISTINCT FROM f.written
            """,
            # The caseload rule: enrollments that become active take their CPSS's free places in file order;
            # the others keep their status.
            """
            UPDATE s_enrollment_fields f SET action = 'capacity'
            FROM (
                SELECT f.line, p.max_caseload,
                       row_number() OVER (PARTITION BY ce.cpss_provider_id ORDER BY f.line) AS rank,
                       (SELECT count(*) FROM cm_enrollments o
                         WHERE o.cpss_provider_id = ce.cpss_provider_id AND o.status = 'active') AS holding
                  FROM s_enrollment_fields f
                  JOIN cm_enrollments ce ON ce.id = f.enrollment_id
                  JOIN providers_cm p ON p.id = ce.cpss_provider_id
                 WHERE f.field = 'status' AND f.action = 'update' AND f.new = '"active"'
            ) r
            WHERE f.line = r.line AND f.field = 'status' AND r.holding + r.rank > r.max_caseload
            """,
            # A status the export changes is a status change: appended to the history before the update.
            """
            INSERT INTO cm_enrollment_status_changes (enrollment_id, from_status, to_status, reason)
            SELECT ce.id, ce.status, f.new #>> '{}', 'migrate_cm_patients: status changed in the export'
            FROM s_enrollment_fields f JOIN cm_enrollments ce ON ce.id = f.enrollment_id
            WHERE f.field = 'status' AND f.action = 'update' AND ce.status IS DISTINCT FROM f.new #>> '{}'
            """,
            """
            UPDATE cm_enrollments ce SET
                status = CASE WHEN u.upd ? 'status' THEN u.upd ->> 'status' ELSE ce.status END,
                pod_assignment = CASE WHEN u.upd ? 'pod_assignment' THEN u.upd ->> 'pod_assignment'
                                      ELSE ce.pod_assignment END,
                notes = CASE WHEN u.upd ? 'notes' THEN u.upd ->> 'notes' ELSE ce.notes END,
                medicaid_verification = CASE WHEN u.upd ? 'medicaid_verification'
                                             THEN nullif(u.upd -> 'medicaid_verification', 'null'::jsonb)
                                             ELSE ce.medicaid_verification END,
                updated_at = now()
            FROM (SELECT enrollment_id, jsonb_object_agg(field, new) AS upd FROM s_enrollment_fields
                  WHERE action = 'update' GROUP BY enrollment_id) u
            WHERE ce.id = u.enrollment_id
            """,
            """
            UPDATE s_enrollment e SET
                updated_fields = f.updated, kept = f.kept,
                written = e.written_before || f.written
            FROM (SELECT line,
                         string_agg(field, ', ' ORDER BY field) FILTER (WHERE action = 'update') AS updated,
                         string_agg(field || ': kept ' || current::text || ', the export has ' || new::text
                                    || CASE action WHEN 'capacity' THEN ' (the CPSS is at capacity)'
                                       ELSE ' (changed in the CRM since the import)' END, '; ' ORDER BY field)
                             FILTER (WHERE action IN ('kept', 'capacity')) AS kept,
                         coalesce(jsonb_object_agg(field, new) FILTER (WHERE action IN ('update', 'same')),
                                  '{}'::jsonb) AS written
                  FROM s_enrollment_fields GROUP BY line) f
            WHERE e.line = f.line
            """,
            f"""
            UPDATE s_enrollment e SET written = jsonb_build_object({
                ", ".join(f"'{column}', {_as_json('e.' + staged)}" for staged, column in REFRESHED.items())
            })
            WHERE e.created
            """,
            "UPDATE s_enrollment SET written = written_before WHERE written IS NULL AND written_before IS NOT NULL",
        ]
    )


# Every staged transaction's enrollment, duplicate, existing entry and outcome in one pass over the staging
# table, written as a new table that replaces it (an UPDATE of every row of a staging table writes each
# row again and leaves the old version behind: one CREATE TABLE AS instead of eight UPDATEs).
_RESOLVE_LEDGER = [
    "DROP TABLE IF EXISTS s_ledger_resolved",
    """
CREATE TEMP TABLE s_ledger_resolved ON COMMIT DROP AS
SELECT d.line, d.old_id, d.enrollment_old_id, d.points, d.event_type, d.entry_reason, d.occurred_at,
       e.enrollment_id, e.canonical_id, t.id IS NOT NULL AS mapped,
       CASE WHEN d.problem IS NOT NULL OR d.dup_of IS NOT NULL OR e.enrollment_id IS NOT NULL THEN d.problem
            WHEN e.line IS NOT NULL THEN 'its enrollment was not migrated'
            ELSE 'cm_patient_id is not in cm_patients.csv' END AS problem,
       d.warning, d.dup_of,
       CASE WHEN d.problem IS NOT NULL OR d.dup_of IS NOT NULL OR e.enrollment_id IS NULL THEN 'skipped'
            WHEN t.id IS NOT NULL THEN 'unchanged' ELSE 'created' END AS outcome,
       CASE WHEN d.problem IS NOT NULL THEN d.problem
            WHEN d.dup_of IS NOT NULL THEN 'duplicate id: not migrated again'
            WHEN e.enrollment_id IS NULL AND e.line IS NOT NULL THEN 'its enrollment was not migrated'
            WHEN e.enrollment_id IS NULL THEN 'cm_patient_id is not in cm_patients.csv'
            WHEN d.entry_reason LIKE '%%(old type: %%' AND t.id IS NULL
            THEN 'an unknown or adjustment type: a manual adjustment carrying the old description' END AS reason,
       CASE WHEN d.problem IS NOT NULL THEN d.detail
            WHEN d.dup_of IS NOT NULL THEN 'first on line ' || d.dup_of
            WHEN e.enrollment_id IS NULL AND e.line IS NOT NULL THEN 'cm_patients.csv line ' || e.line
            WHEN e.enrollment_id IS NULL THEN d.enrollment_old_id END AS detail,
       CASE WHEN d.problem IS NULL AND d.dup_of IS NULL AND e.enrollment_id IS NOT NULL THEN d.new_id END AS new_id
  FROM (SELECT line, old_id, enrollment_old_id, points, event_type, entry_reason, occurred_at, problem, warning,
               detail, coalesce(new_id, {ledger_entry_id}) AS new_id,
               CASE WHEN problem IS NULL THEN nullif(min(line) FILTER (WHERE problem IS NULL)
                                                     OVER (PARTITION BY old_id), line) END AS dup_of
          FROM s_ledger) d
  LEFT JOIN (SELECT DISTINCT ON (e.old_id) e.old_id, e.line,
                    CASE WHEN e.problem IS NULL THEN e.enrollment_id END AS enrollment_id,
                    CASE WHEN e.problem IS NULL THEN ce.canonical_patient_id END AS canonical_id
               FROM s_enrollment e LEFT JOIN cm_enrollments ce ON ce.id = e.enrollment_id
              WHERE e.dup_of IS NULL
              ORDER BY e.old_id, (e.problem IS NULL AND ce.id IS NOT NULL) DESC, e.line) e
    ON e.old_id = d.enrollment_old_id AND d.problem IS NULL AND d.dup_of IS NULL
  LEFT JOIN cm_points_transactions t ON t.id = d.new_id AND e.enrollment_id IS NOT NULL
""".replace("{ledger_entry_id}", LEDGER_ENTRY_ID.format("old_id")),
    "DROP TABLE s_ledger",
    "ALTER TABLE s_ledger_resolved RENAME TO s_ledger",
]


def append_ledger(*, actor) -> None:
    """Old point transactions -> new ledger entries (numbered, streak replayed); those a run already made
    (found by their id, ``staging.ledger_entry_id``) are left alone."""
    recorded_by = getattr(actor, "pk", None)
    with connection.cursor() as cursor:
        # Runs before the ledger ids were derived from the old ids kept them in the mapping table.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM import_mapping WHERE source = 'cm_patients' "
            "AND old_table = 'cm_points_transactions')"
        )
        legacy_mappings = cursor.fetchone()[0]
    _run(
        [
            *(
                [
                    """
            UPDATE s_ledger l SET new_id = m.new_id::uuid FROM import_mapping m
            WHERE m.source = 'cm_patients' AND m.old_table = 'cm_points_transactions' AND m.old_id = l.old_id
              AND l.problem IS NULL
            """
                ]
                if legacy_mappings
                else []
            ),
            *_RESOLVE_LEDGER,
            # The enrollments' row locks, as cm_event_record takes them, before numbering their entries.
            """
            SELECT 1 FROM cm_enrollments WHERE id IN (SELECT enrollment_id FROM s_ledger WHERE outcome = 'created')
            ORDER BY id FOR UPDATE
            """,
            (
                """
            INSERT INTO cm_points_transactions (id, enrollment_id, canonical_patient_id, sequence, event_type, points,
                                                reason, streak_after, recorded_by_id, occurred_at, created_at)
            WITH base AS (
                SELECT t.enrollment_id, max(t.sequence) AS sequence,
                       (array_agg(t.streak_after ORDER BY t.sequence DESC))[1] AS streak
                FROM cm_points_transactions t
                WHERE t.enrollment_id IN (SELECT enrollment_id FROM s_ledger WHERE outcome = 'created')
                GROUP BY t.enrollment_id
            ), ordered AS (
                SELECT l.*, row_number() OVER w AS rn,
                       count(*) FILTER (WHERE l.event_type IN ('test_positive', 'test_missed')) OVER w AS resets
                FROM s_ledger l WHERE l.outcome = 'created'
                WINDOW w AS (PARTITION BY l.enrollment_id ORDER BY l.occurred_at, l.line)
            ), replayed AS (
                SELECT o.*, count(*) FILTER (WHERE o.event_type = 'test_negative')
                                OVER (PARTITION BY o.enrollment_id, o.resets ORDER BY o.rn) AS negatives
                FROM ordered o
            )
            SELECT r.new_id, r.enrollment_id, r.canonical_id, coalesce(b.sequence, 0) + r.rn, r.event_type, r.points,
                   coalesce(r.entry_reason, ''),
                   CASE WHEN r.resets = 0 THEN coalesce(b.streak, 0) + r.negatives ELSE r.negatives END,
                   %s, r.occurred_at, r.occurred_at
            FROM replayed r LEFT JOIN base b ON b.enrollment_id = r.enrollment_id
            """,
                [recorded_by],
            ),
        ]
    )


# The enrollments whose totals this run may change: those it created and those it added entries to.
TOUCHED = """
    SELECT enrollment_id FROM s_enrollment WHERE created
    UNION SELECT enrollment_id FROM s_ledger WHERE outcome = 'created'
"""


def settle_totals(*, actor) -> None:
    """Totals and streaks from the ledger; differences with the old values are reported with both."""
    recorded_by = getattr(actor, "pk", None)
    _run(
        [
            # A balance cannot be negative: one balancing entry, never an edit of the old ones.
            (
                f"""
            INSERT INTO cm_points_transactions (enrollment_id, canonical_patient_id, sequence, event_type, points,
                                                reason, streak_after, recorded_by_id)
            SELECT t.enrollment_id, min(t.canonical_patient_id::text)::uuid, max(t.sequence) + 1, 'manual_adjustment',
                   -sum(t.points),
                   'Migration: the old ledger sums to ' || sum(t.points)
                   || ' points; this entry brings the balance to 0 (a balance cannot be negative).',
                   (array_agg(t.streak_after ORDER BY t.sequence DESC))[1], %s
            FROM cm_points_transactions t
            WHERE t.enrollment_id IN ({TOUCHED})
            GROUP BY t.enrollment_id HAVING sum(t.points) < 0
            """,
                [recorded_by],
            ),
            f"""
            UPDATE cm_enrollments e SET total_points = t.points, current_streak = t.streak, updated_at = now()
            FROM (
                SELECT t.enrollment_id, sum(t.points) AS points,
                       (array_agg(t.streak_after ORDER BY t.sequence DESC))[1] AS streak
                FROM cm_points_transactions t
                WHERE t.enrollment_id IN ({TOUCHED})
                GROUP BY t.enrollment_id
            ) t
            WHERE e.id = t.enrollment_id AND (e.total_points, e.current_streak) <> (t.points, t.streak)
            """,
            """
            UPDATE s_enrollment s SET new_total = e.total_points, new_streak = e.current_streak
            FROM cm_enrollments e WHERE e.id = s.enrollment_id
            """,
            """
            UPDATE s_enrollment SET
                outcome = CASE
                    WHEN problem IS NOT NULL OR dup_of IS NOT NULL THEN 'skipped'
                    WHEN warning IS NOT NULL THEN 'conflict'
                    WHEN (old_total, old_streak) <> (new_total, new_streak) AND NOT mapped THEN 'conflict'
                    WHEN kept IS NOT NULL THEN 'conflict'
                    WHEN updated_fields IS NOT NULL THEN 'updated'
                    WHEN mapped THEN 'unchanged'
                    WHEN created THEN 'created'
                    ELSE 'matched' END,
                reason = CASE
                    WHEN problem IS NOT NULL THEN problem
                    WHEN dup_of IS NOT NULL THEN 'duplicate id: not migrated again'
                    WHEN warning IS NOT NULL THEN 'imported; see the detail'
                    WHEN kept IS NOT NULL THEN 'edited in the CRM since the last import: the CRM''s value is kept'
                    WHEN updated_fields IS NOT NULL THEN 'changed in the export: updated'
                    WHEN (old_total, old_streak) <> (new_total, new_streak) THEN 'totals differ from the ledger'
                    WHEN merged_into IS NOT NULL
                    THEN 'same patient and program as an earlier row: one enrollment, its points go there'
                    WHEN matched_existing THEN 'the patient was already enrolled in this program: points added to it'
                    END,
                detail = CASE WHEN problem IS NOT NULL THEN detail
                              WHEN dup_of IS NOT NULL THEN 'first on line ' || dup_of
                              ELSE concat_ws('; ', warning,
                    CASE WHEN merged_into IS NOT NULL THEN 'merged into the enrollment of line ' || merged_into END,
                    kept, updated_fields,
                    CASE WHEN old_total <> new_total
                         THEN 'total_points: old ' || old_total || ', ledger ' || new_total END,
                    CASE WHEN old_streak <> new_streak
                         THEN 'current_streak: old ' || old_streak || ', ledger ' || new_streak END) END,
                new_id = enrollment_id
            """,
        ]
    )
