"""``patient.open_journeys``: how many journeys (clinical trial and EAP) of a patient are open, i.e. not
deleted and not in a final status (``journeys.transitions.CT_FINAL`` / ``EAP_FINAL``).

Kept exact by PostgreSQL itself: statement-level triggers on ``clinical_trial_journey`` and ``eap_journey``
(insert, update, delete, truncate) with transition tables add and subtract per patient in the transaction of
the write, so every path that writes journeys — the services, the admin, the API, the importers, merges, bulk
``QuerySet.update()``, raw SQL — keeps it right, one set-based pass per statement. The migration
``journeys/0008_patient_open_journeys_triggers`` defines them, the from-scratch count (the view
``patient_open_journeys_fresh``) and the repair (``patient_open_journeys_repair()``).

The patients list's "Any open journey" filter reads it (``open_journeys > 0``, partial index
``patient_open_journey_idx``) instead of probing both journey tables per patient (~400 ms of SQL at full size).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

# What the migration's journey_is_open() was written with: a new final status needs a migration that redefines
# it (tests/journeys/test_open_journeys.py fails until then).
MIGRATION_CT_FINAL = ("completed", "ineligible", "declined", "withdrawn")
MIGRATION_EAP_FINAL = ("completed", "declined", "withdrawn")


@dataclass(frozen=True)
class OpenJourneysMismatch:
    patient_id: object
    stored: int
    fresh: int


def open_journeys_mismatches(*, limit: int | None = None) -> tuple[int, list[OpenJourneysMismatch]]:
    """(number of patients whose stored count differs from the journeys, up to ``limit`` of them), in one
    statement (one snapshot, whatever writes meanwhile): a hash join of every patient with the fresh counts."""
    sql = """
        WITH wrong AS (
            SELECT p.id, p.open_journeys AS stored, COALESCE(f.n, 0) AS fresh
            FROM patient p LEFT JOIN patient_open_journeys_fresh f ON f.patient_id = p.id
            WHERE p.open_journeys <> COALESCE(f.n, 0)
        )
        SELECT (SELECT count(*) FROM wrong), w.id, w.stored, w.fresh
        FROM (SELECT 1) one LEFT JOIN (SELECT * FROM wrong ORDER BY id LIMIT %s) w ON true
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        rows = cursor.fetchall()
    total = rows[0][0]
    return total, [OpenJourneysMismatch(r[1], r[2], r[3]) for r in rows if r[1] is not None]


def repair_open_journeys() -> int:
    """Rewrite every patient whose stored count differs from their journeys; how many were rewritten. The
    rewritten patients are locked (in key order) until the transaction ends."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT patient_open_journeys_repair()")
        return cursor.fetchone()[0]
