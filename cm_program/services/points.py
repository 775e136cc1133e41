"""The points ledger: recorded events, reversals and the enrollment totals kept from it."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CMEnrollment,
    CMPointsTransaction,
    CMProgram,
    CMStatus,
    PointsEvent,
)
from cm_program.selectors import streak_from_ledger
from cm_program.services._common import _append_entry, _clean_choice, _not_future
from common.audit import audit_context
from common.errors import ConflictError
from common.validation import check_text
from people.models import User

# Events a CPSS records; enrollment bonuses and reversals are written by their own services.
RECORDABLE_EVENTS = (*BEHAVIOUR_EVENTS, PointsEvent.MANUAL_ADJUSTMENT)


def _schedule_points(program: CMProgram, event_type: str, streak_before: int) -> tuple[int, int]:
    """(points, streak after) for a scheduled event, from the program's reinforcement schedule."""
    if event_type == PointsEvent.TEST_NEGATIVE:
        return program.negative_test_points(streak_before=streak_before), streak_before + 1
    if event_type in (PointsEvent.TEST_POSITIVE, PointsEvent.TEST_MISSED):
        return 0, 0  # no points, and the escalation starts again from the base value
    per_activity = {
        PointsEvent.GROUP_ATTENDANCE: program.points_group_attendance,
        PointsEvent.WEEKLY_CHECKIN: program.points_weekly_checkin,
        PointsEvent.PEER_SUPPORT: program.points_peer_support,
    }
    return per_activity[event_type], streak_before


@transaction.atomic
def cm_event_record(
    *,
    enrollment: CMEnrollment,
    event_type: str,
    actor: User | None = None,
    occurred_at: dt.datetime | None = None,
    points: int | None = None,
    reason: str = "",
    locked: bool = False,
) -> CMPointsTransaction:
    """Record a CM event and its points as a new ledger row; returns the row.

    ``locked``: the caller read ``enrollment`` with ``select_for_update()`` in the current transaction (the API's
    view reads it that way), so it is the latest row, held: it is not read again.

    Rules: only an active enrollment receives events. Scheduled events take their points from the
    program's schedule (``points`` must not be given): a negative test earns base + increment x the
    current streak, up to the cap, and extends the streak; a positive or missed test earns nothing and
    resets the streak. A manual adjustment takes signed, non-zero ``points`` and a ``reason``, and may
    not take the balance below zero. ``total_points`` and ``current_streak`` move in the same
    transaction, under the enrollment's row lock.
    """
    _clean_choice(event_type, field="event_type", choices=PointsEvent, required=True)
    if event_type not in RECORDABLE_EVENTS:
        raise ValidationError({"event_type": [f"'{event_type}' entries are written by the system, not recorded."]})
    reason = (reason or "").strip()
    check_text(reason, field="reason", multiline=True)
    if event_type == PointsEvent.MANUAL_ADJUSTMENT:
        if points is None or isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise ValidationError({"points": ["A manual adjustment is a whole, non-zero number of points."]})
        if not reason:
            raise ValidationError({"reason": ["A manual adjustment needs a reason."]})
    elif points is not None:
        raise ValidationError({"points": ["Points of scheduled events come from the program's schedule."]})
    occurred_at = _not_future(occurred_at, field="occurred_at")

    with audit_context(actor=actor):
        locked = enrollment if locked else CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        # Read after the lock, not joined to it: a joined program would come from the snapshot taken
        # before the lock wait and miss a schedule change committed meanwhile.
        locked.cm_program = CMProgram.objects.get(pk=locked.cm_program_id)
        if locked.status != CMStatus.ACTIVE:
            raise ValidationError(
                {"enrollment": [f"The enrollment is {locked.status}; events are recorded on active enrollments."]}
            )
        if event_type == PointsEvent.MANUAL_ADJUSTMENT:
            if locked.total_points + points < 0:
                raise ValidationError({"points": [f"The balance is {locked.total_points}; it cannot go below zero."]})
            awarded, streak_after = points, locked.current_streak
        else:
            awarded, streak_after = _schedule_points(locked.cm_program, event_type, locked.current_streak)
        entry = _append_entry(
            enrollment=locked,
            event_type=event_type,
            points=awarded,
            streak_after=streak_after,
            reason=reason,
            occurred_at=occurred_at,
            actor=actor,
        )
        enrollment.total_points, enrollment.current_streak = locked.total_points, locked.current_streak
        return entry


@transaction.atomic
def cm_points_reverse(
    *, points_transaction: CMPointsTransaction, reason: str, actor: User | None = None
) -> CMPointsTransaction:
    """Cancel a ledger entry with a reversing entry (the original is never edited); returns it.

    Rules: a reason is required; an entry is reversed at most once (a second attempt names the
    existing reversal) and a reversal is not itself reversed (record a new event instead); a
    reversal may not take the balance below zero, nor add points to an enrollment that is not
    active. The streak is replayed from the ledger without the cancelled entry.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["A reversal needs a reason."]})
    check_text(reason, field="reason", multiline=True)
    if points_transaction.event_type == PointsEvent.REVERSAL:
        raise ValidationError({"points_transaction": ["A reversal cannot be reversed; record a new event instead."]})
    with audit_context(actor=actor):
        locked = CMEnrollment.objects.select_for_update().get(pk=points_transaction.enrollment_id)
        existing = CMPointsTransaction.objects.filter(reverses=points_transaction).first()
        if existing is not None:
            raise ConflictError(
                f"Entry #{points_transaction.sequence} was already reversed by entry #{existing.sequence}.",
                existing_id=existing.pk,
                field="points_transaction",
            )
        delta = -points_transaction.points
        if delta > 0 and locked.status != CMStatus.ACTIVE:
            raise ValidationError({"enrollment": [f"The enrollment is {locked.status}; no points are added to it."]})
        if locked.total_points + delta < 0:
            raise ValidationError(
                {"points_transaction": [f"The balance is {locked.total_points}; the reversal would make it negative."]}
            )
        entries = list(locked.points_transactions.order_by("sequence"))
        streak_after = streak_from_ledger(entries, extra_reversed={points_transaction.pk})
        return _append_entry(
            enrollment=locked,
            event_type=PointsEvent.REVERSAL,
            points=delta,
            streak_after=streak_after,
            reason=reason,
            reverses=points_transaction,
            actor=actor,
        )


@transaction.atomic
def cm_enrollment_totals_repair(*, enrollment: CMEnrollment, actor: User | None = None) -> tuple[int, int]:
    """Set an enrollment's ``total_points`` and ``current_streak`` to what its ledger says.

    The ledger is the truth; the totals are a cache of it. Returns the (points, streak) written. The
    change is kept in the audit trail like any other.
    """
    with audit_context(actor=actor, reason="ledger repair"):
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        entries = list(locked.points_transactions.order_by("sequence"))
        points = sum(e.points for e in entries)
        streak = streak_from_ledger(entries)
        if (locked.total_points, locked.current_streak) != (points, streak):
            CMEnrollment.objects.filter(pk=locked.pk).update(
                total_points=points, current_streak=streak, updated_at=timezone.now()
            )
        return points, streak
