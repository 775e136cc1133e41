"""cm_check_ledger and the CM part of seed_demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cm_program import selectors, services
from cm_program.models import CMEnrollment, CMPointsTransaction, CMProgram, CMProvider, IntakeQPatient
from common.audit import record_history
from people.models import User


def run(*args: str) -> str:
    out = StringIO()
    call_command("cm_check_ledger", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def two_enrollments(program, cpss):
    made = []
    for first in ("Good", "Bad"):
        result = services.cm_patient_enroll_new(
            first_name=first, last_name="Patient", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
        )
        services.cm_event_record(enrollment=result.enrollment, event_type="test_negative")
        services.cm_event_record(enrollment=result.enrollment, event_type="test_negative")
        made.append(result.enrollment)
    return made


@pytest.mark.django_db
def test_check_ledger_reports_agreement(two_enrollments):
    assert "All 2 enrollments agree with their ledger." in run()


@pytest.mark.django_db
def test_check_ledger_reports_disagreement_and_fails_then_fix_repairs(two_enrollments):
    good, bad = two_enrollments
    CMEnrollment.objects.filter(pk=bad.pk).update(total_points=500, current_streak=0)
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 enrollments disagree"):
        call_command("cm_check_ledger", stdout=out)
    report = out.getvalue()
    assert str(bad.pk) in report and str(good.pk) not in report
    assert "points stored 500, ledger 135; streak stored 0, ledger 2" in report
    bad.refresh_from_db()
    assert bad.total_points == 500  # checking changes nothing

    fixed = run("--fix")
    assert f"fixed {bad.pk}: total_points=135, current_streak=2" in fixed and "Repaired 1 of 2" in fixed
    bad.refresh_from_db()
    assert (bad.total_points, bad.current_streak) == (135, 2)
    assert record_history(bad)[-1].channel == "command"
    assert CMPointsTransaction.objects.filter(enrollment=bad).count() == 3  # the ledger was not touched
    assert "All 2 enrollments agree" in run()


@pytest.mark.django_db
def test_check_ledger_for_one_enrollment(two_enrollments):
    good, bad = two_enrollments
    CMEnrollment.objects.filter(pk=bad.pk).update(total_points=1)
    assert "All 1 enrollments agree" in run("--enrollment", str(good.pk))
    with pytest.raises(CommandError, match="takes enrollment ids"):
        run("--enrollment", "not-a-uuid")


def test_check_ledger_help_explains_fix(capsys):
    with pytest.raises(SystemExit):
        call_command("cm_check_ledger", "--help")
    text = capsys.readouterr().out
    assert "--fix" in text and "total_points" in text and "exits with status 1" in text


@pytest.mark.django_db
def test_seed_demo_builds_cm_data_once():
    call_command("seed_demo", stdout=StringIO())
    first = {
        "programs": CMProgram.objects.count(),
        "providers": CMProvider.objects.count(),
        "intakeq": IntakeQPatient.objects.count(),
        "enrollments": CMEnrollment.objects.count(),
        "ledger": CMPointsTransaction.objects.count(),
    }
    call_command("seed_demo", stdout=StringIO())
    second = {
        "programs": CMProgram.objects.count(),
        "providers": CMProvider.objects.count(),
        "intakeq": IntakeQPatient.objects.count(),
        "enrollments": CMEnrollment.objects.count(),
        "ledger": CMPointsTransaction.objects.count(),
    }
    assert first == second
    assert first["programs"] == 1 and first["providers"] == 3 and first["enrollments"] == 13
    assert first["ledger"] > 13 * 5
    program = CMProgram.objects.get()
    assert (program.points_group_attendance, program.points_negative_test_base, program.points_enrollment_bonus) == (
        25,
        50,
        25,
    )

    # The demo login "cpss" is a CPSS with a caseload of their own.
    cpss_user = User.objects.get(username="cpss")
    assert cpss_user.cm_provider.enrollments.exists()
    assert selectors.cm_enrollments_visible_to(cpss_user).count() == cpss_user.cm_provider.enrollments.count()
    # One CPSS is close to their limit, and the dual-enrollment list is not empty.
    rows = selectors.cpss_caseload_summary()
    assert any(row.places_left == 1 for row in rows)
    assert selectors.dual_enrollments().count() == 3
    assert any(row.without_event_7_days > 0 for row in rows)
    assert CMEnrollment.objects.filter(status="paused").count() == 1
    assert selectors.ledger_discrepancies() == []
