"""A patient's follow-up, kept on the patient row.

The follow-up of a patient is the ``reminder_date`` of their most recent non-void call, and their last
call is that call's ``call_date`` (see ``patients.selectors``). Screens filter and sort patients by
them, so they are stored on ``patient`` (``follow_up_date``, ``last_call_at``) rather than computed
by a latest-call subquery per patient. Every path that writes calls (the call services, the bench
generator, importers, merges) calls ``refresh_follow_up`` in its own transaction, after its writes;
``check_follow_up_dates`` finds and repairs rows that disagree anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction

# The latest non-void call of the patient ``p`` (newest call date, then newest logged), for one patient.
_LATEST_CALL = """
    SELECT c.reminder_date, c.call_date
    FROM call_history c
    WHERE c.patient_id = p.id AND c.is_active
    ORDER BY c.call_date DESC, c.created_at DESC
    LIMIT 1
"""

_DIFFERS = "(p.follow_up_date IS DISTINCT FROM l.reminder_date OR p.last_call_at IS DISTINCT FROM l.call_date)"


def refresh_follow_up(*, patient_ids: Iterable | None = None, locked: bool = False) -> int:
    """Set ``follow_up_date`` and ``last_call_at`` of these patients (every patient when None) from
    their calls, in set-based SQL; returns the number of patients whose values changed.

    Call it in the transaction that wrote the calls, after the writes. The patients' rows are locked
    first (in id order, so two callers never deadlock), and the values are read by the next statement:
    of two transactions logging calls for one patient at once, the second waits for the first and
    then sees both calls (READ COMMITTED takes a new snapshot per statement). ``locked``: the caller
    already holds these patients' row locks (``call_log``), taken before its writes.

    No savepoint: the statements are one step of the caller's transaction, which no caller continues
    after a database error; ``atomic`` only makes sure there is a transaction to hold the locks.
    """
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if patient_ids is None:
            # Everything at once: one pass over the calls (DISTINCT ON) instead of a probe per patient.
            cursor.execute(
                f"""
                UPDATE patient p
                SET follow_up_date = l.reminder_date, last_call_at = l.call_date
                FROM (
                    SELECT a.id, c.reminder_date, c.call_date
                    FROM patient a
                    LEFT JOIN (
                        SELECT DISTINCT ON (patient_id) patient_id, reminder_date, call_date
                        FROM call_history
                        WHERE is_active
                        ORDER BY patient_id, call_date DESC, created_at DESC
                    ) c ON c.patient_id = a.id
                ) l
                WHERE p.id = l.id AND {_DIFFERS}
                """
            )
            return cursor.rowcount
        ids = sorted({str(pk) for pk in patient_ids})
        if not ids:
            return 0
        if not locked:
            cursor.execute("SELECT id FROM patient WHERE id = ANY(%s::uuid[]) ORDER BY id FOR UPDATE", [ids])
        cursor.execute(
            f"""
            UPDATE patient p
            SET follow_up_date = l.reminder_date, last_call_at = l.call_date
            FROM (
                SELECT p.id, latest.reminder_date, latest.call_date
                FROM patient p LEFT JOIN LATERAL ({_LATEST_CALL}) latest ON true
                WHERE p.id = ANY(%s::uuid[])
            ) l
            WHERE p.id = l.id AND {_DIFFERS}
            """,
            [ids],
        )
        return cursor.rowcount


@dataclass(frozen=True)
class FollowUpMismatch:
    patient_id: object
    stored_follow_up: object
    stored_last_call: object
    follow_up: object
    last_call: object


def follow_up_mismatches(*, batch_size: int = 10_000) -> Iterator[tuple[int, list[FollowUpMismatch]]]:
    """Walk every patient in keyset batches of ``batch_size`` (by id) and yield, per batch, how many
    patients it checked and those whose stored follow-up or last call disagrees with their calls.
    Memory stays flat: one batch at a time."""
    after = None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM patient WHERE %(after)s::uuid IS NULL OR id > %(after)s::uuid "
                "ORDER BY id LIMIT %(size)s",
                {"after": after, "size": batch_size},
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return
            cursor.execute(
                f"""
                SELECT p.id, p.follow_up_date, p.last_call_at, l.reminder_date, l.call_date
                FROM patient p LEFT JOIN LATERAL ({_LATEST_CALL}) l ON true
                WHERE p.id = ANY(%s::uuid[]) AND {_DIFFERS}
                ORDER BY p.id
                """,
                [[str(pk) for pk in ids]],
            )
            found = [FollowUpMismatch(*row) for row in cursor.fetchall()]
        yield len(ids), found
        if len(ids) < batch_size:
            return
        after = ids[-1]
