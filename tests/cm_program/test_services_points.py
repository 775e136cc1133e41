"""The points ledger: the reinforcement schedule, streaks, corrections, status moves and the cached totals."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError

from cm_program import services
from cm_program.models import (
    CMEnrollment,
    CMPointsTransaction,
)
from cm_program.selectors import streak_from_ledger
from common.audit import record_history
from common.errors import ConflictError
from tests.cm_program.conftest import run_concurrently
from tests.cm_program.services_support import assert_field_error, counts, enroll
from tests.factories.cm_program import (
    CMEnrollmentFactory,
    CMProgramFactory,
    CMProviderFactory,
)
from tests.relative_dates import FromNow, resolve


@pytest.fixture
def enrollment(program, cpss):
    return enroll(program, cpss).enrollment


def record(enrollment, event_type, **kwargs):
    return services.cm_event_record(enrollment=enrollment, event_type=event_type, **kwargs)


@pytest.mark.django_db
def test_negative_tests_escalate_to_the_cap_and_a_positive_resets(enrollment, cpss):
    awarded = [record(enrollment, "test_negative").points for _ in range(7)]
    assert awarded == [50, 60, 70, 80, 90, 100, 100]
    assert enrollment.current_streak == 7
    positive = record(enrollment, "test_positive")
    assert (positive.points, positive.streak_after) == (0, 0)
    assert record(enrollment, "test_negative").points == 50
    assert record(enrollment, "test_negative").points == 60
    missed = record(enrollment, "test_missed")
    assert (missed.points, missed.streak_after) == (0, 0)
    assert record(enrollment, "test_negative").points == 50
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25 + sum(awarded) + 50 + 60 + 50
    assert enrollment.current_streak == 1
    sequences = list(CMPointsTransaction.objects.filter(enrollment=enrollment).values_list("sequence", flat=True))
    assert sequences == list(range(1, 14))


@pytest.mark.django_db
def test_activities_earn_the_programs_values_and_keep_the_streak(enrollment, cpss):
    record(enrollment, "test_negative")
    values = {
        kind: record(enrollment, kind, actor=cpss.user).points
        for kind in ("group_attendance", "weekly_checkin", "peer_support")
    }
    assert values == {"group_attendance": 25, "weekly_checkin": 10, "peer_support": 20}
    enrollment.refresh_from_db()
    assert (enrollment.total_points, enrollment.current_streak) == (25 + 50 + 55, 1)
    assert record(enrollment, "test_negative").points == 60
    assert CMPointsTransaction.objects.filter(recorded_by=cpss.user).count() == 3


@pytest.mark.django_db
def test_the_schedule_is_the_programs_data(cpss):
    program = CMProgramFactory(
        name="Strict",
        points_negative_test_base=10,
        points_negative_test_increment=5,
        points_negative_test_cap=20,
        points_group_attendance=3,
        points_enrollment_bonus=0,
    )
    enrollment = enroll(program, cpss).enrollment
    assert CMPointsTransaction.objects.count() == 0  # no bonus in this program
    assert [record(enrollment, "test_negative").points for _ in range(4)] == [10, 15, 20, 20]
    assert record(enrollment, "group_attendance").points == 3


@pytest.mark.django_db
def test_manual_adjustments_need_a_reason_and_keep_the_balance_positive(enrollment):
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=10)
    assert_field_error(excinfo, "reason", "reason")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=10, reason="   ")
    assert_field_error(excinfo, "reason")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=0, reason="nothing")
    assert_field_error(excinfo, "points")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=-26, reason="prize redeemed")
    assert_field_error(excinfo, "points", "below zero")
    assert counts() == before

    entry = record(enrollment, "manual_adjustment", points=-20, reason="Prize redeemed: bus pass")
    enrollment.refresh_from_db()
    assert (entry.points, entry.reason, enrollment.total_points) == (-20, "Prize redeemed: bus pass", 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_type": "bingo"}, "event_type"),
        ({"event_type": "enrollment_bonus"}, "event_type"),
        ({"event_type": "reversal"}, "event_type"),
        ({"event_type": "group_attendance", "points": 500}, "points"),
        ({"event_type": "group_attendance", "occurred_at": FromNow(hours=2)}, "occurred_at"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(enrollment, kwargs, field):
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        services.cm_event_record(enrollment=enrollment, **resolve(kwargs))
    assert_field_error(excinfo, field)
    assert counts() == before
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["paused", "graduated", "withdrawn"])
def test_no_events_for_an_enrollment_that_is_not_active(enrollment, status):
    services.cm_enrollment_set_status(enrollment=enrollment, status=status)
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "group_attendance")
    assert_field_error(excinfo, "enrollment", status)
    assert counts() == before
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25


@pytest.mark.django_db
def test_status_changes_follow_the_allowed_moves_and_are_audited(enrollment, superuser):
    services.cm_enrollment_set_status(enrollment=enrollment, status="paused", actor=superuser, reason="Travel")
    services.cm_enrollment_set_status(enrollment=enrollment, status="active", actor=superuser)
    services.cm_enrollment_set_status(enrollment=enrollment, status="graduated", actor=superuser)
    with pytest.raises(ValidationError) as excinfo:
        services.cm_enrollment_set_status(enrollment=enrollment, status="active")
    assert_field_error(excinfo, "status", "graduated to active")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_enrollment_set_status(enrollment=enrollment, status="finished")
    assert_field_error(excinfo, "status")
    moves = [e.changes["status"] for e in record_history(enrollment) if "status" in e.changes and e.action == "update"]
    assert moves == [["active", "paused"], ["paused", "active"], ["active", "graduated"]]
    paused = next(e for e in record_history(enrollment) if e.changes.get("status") == ["active", "paused"])
    assert paused.username == "root" and paused.context["reason"] == "Travel"


@pytest.mark.django_db
def test_a_reversal_cancels_an_entry_and_replays_the_streak(enrollment, superuser):
    first = record(enrollment, "test_negative")
    record(enrollment, "test_negative")
    positive = record(enrollment, "test_positive")
    assert enrollment.current_streak == 0
    reversal = services.cm_points_reverse(
        points_transaction=positive, reason="Lab retest was negative", actor=superuser
    )
    enrollment.refresh_from_db()
    assert (reversal.event_type, reversal.points, reversal.reverses, reversal.streak_after) == (
        "reversal",
        0,
        positive,
        2,
    )
    assert enrollment.current_streak == 2
    assert record(enrollment, "test_negative").points == 70  # the escalation continues

    undo = services.cm_points_reverse(points_transaction=first, reason="Wrong patient", actor=superuser)
    enrollment.refresh_from_db()
    assert undo.points == -50 and enrollment.total_points == 25 + 50 + 60 + 70 - 50
    assert enrollment.current_streak == 2
    first.refresh_from_db()
    assert first.points == 50  # the original entry is untouched

    with pytest.raises(ConflictError) as excinfo:
        services.cm_points_reverse(points_transaction=first, reason="again")
    assert excinfo.value.existing_id == undo.pk
    with pytest.raises(ValidationError) as excinfo:
        services.cm_points_reverse(points_transaction=undo, reason="undo the undo")
    assert_field_error(excinfo, "points_transaction")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_points_reverse(points_transaction=positive, reason="")
    assert_field_error(excinfo, "reason")


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_on_one_enrollment_are_serialised():
    program = CMProgramFactory(name="Concurrent events")
    enrollment = enroll(program, CMProviderFactory()).enrollment
    results = run_concurrently(*[lambda: record(enrollment, "test_negative") for _ in range(3)])
    assert [status for status, _ in results] == ["ok"] * 3, results
    enrollment.refresh_from_db()
    assert sorted(value.points for _, value in results) == [50, 60, 70]
    assert (enrollment.total_points, enrollment.current_streak) == (25 + 180, 3)


@pytest.mark.django_db
def test_random_event_sequences_keep_the_totals_equal_to_the_ledger(program, cpss):
    """200 random events, adjustments, reversals and pauses against an independent model of the rules."""
    rng = random.Random(20260401)
    enrollment = enroll(program, cpss).enrollment
    model_entries: list[dict] = [{"id": None, "type": "enrollment_bonus", "points": 25, "reversed": False}]
    status = "active"

    def model_streak() -> int:
        streak = 0
        for e in model_entries:
            if e["reversed"] or e["type"] == "reversal":
                continue
            if e["type"] == "test_negative":
                streak += 1
            elif e["type"] in ("test_positive", "test_missed"):
                streak = 0
        return streak

    kinds = ["test_negative"] * 5 + [
        "test_positive",
        "test_missed",
        "group_attendance",
        "weekly_checkin",
        "peer_support",
    ]
    for _ in range(200):
        roll = rng.random()
        total = sum(e["points"] for e in model_entries)
        if roll < 0.05:
            status = "paused" if status == "active" else "active"
            services.cm_enrollment_set_status(enrollment=enrollment, status=status)
        elif status != "active":
            with pytest.raises(ValidationError):
                record(enrollment, rng.choice(kinds))
        elif roll < 0.15:
            candidates = [e for e in model_entries if e["id"] and not e["reversed"] and e["type"] != "reversal"]
            if candidates:
                target = rng.choice(candidates)
                if total - target["points"] >= 0:
                    entry = services.cm_points_reverse(
                        points_transaction=CMPointsTransaction.objects.get(pk=target["id"]), reason="correction"
                    )
                    target["reversed"] = True
                    model_entries.append(
                        {"id": entry.pk, "type": "reversal", "points": -target["points"], "reversed": False}
                    )
        elif roll < 0.22:
            points = rng.randint(-40, 40) or 5
            if total + points >= 0:
                entry = record(enrollment, "manual_adjustment", points=points, reason="adjusted")
                model_entries.append({"id": entry.pk, "type": "manual_adjustment", "points": points, "reversed": False})
        else:
            kind = rng.choice(kinds)
            streak = model_streak()
            expected = {
                "test_negative": min(50 + 10 * streak, 100),
                "test_positive": 0,
                "test_missed": 0,
                "group_attendance": 25,
                "weekly_checkin": 10,
                "peer_support": 20,
            }[kind]
            entry = record(enrollment, kind)
            assert entry.points == expected, (kind, streak)
            model_entries.append({"id": entry.pk, "type": kind, "points": expected, "reversed": False})

        enrollment.refresh_from_db()
        assert enrollment.total_points == sum(e["points"] for e in model_entries)
        assert enrollment.current_streak == model_streak()

    ledger = list(CMPointsTransaction.objects.filter(enrollment=enrollment).order_by("sequence"))
    assert len(ledger) == len(model_entries) > 100
    assert enrollment.total_points == sum(e.points for e in ledger)
    assert enrollment.current_streak == streak_from_ledger(ledger) == ledger[-1].streak_after
    assert [e.sequence for e in ledger] == list(range(1, len(ledger) + 1))
    assert enrollment.total_points >= 0


@pytest.mark.django_db
def test_totals_repair_sets_the_ledgers_values(enrollment):
    record(enrollment, "test_negative")
    CMEnrollment.objects.filter(pk=enrollment.pk).update(total_points=999, current_streak=7)
    assert services.cm_enrollment_totals_repair(enrollment=enrollment) == (75, 1)
    enrollment.refresh_from_db()
    assert (enrollment.total_points, enrollment.current_streak) == (75, 1)


@pytest.mark.django_db
def test_factory_enrollment_starts_with_an_empty_ledger():
    enrollment = CMEnrollmentFactory()
    assert enrollment.canonical_patient == enrollment.cm_patient.canonical_patient
    assert (enrollment.total_points, enrollment.points_transactions.count()) == (0, 0)
