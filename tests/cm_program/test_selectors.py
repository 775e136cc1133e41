"""The CM document's query patterns, the CPSS caseload summary and who sees which CM rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cm_program import selectors, services
from tests.conftest import make_user
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory


def enroll(program, cpss, first, last="Doe", dob="1990-01-01", **kwargs):
    return services.cm_patient_enroll_new(
        first_name=first, last_name=last, date_of_birth=dob, program=program, cpss_provider=cpss, **kwargs
    )


@pytest.mark.django_db
@pytest.mark.parametrize("programs", [1, 4])
def test_complete_patient_view_in_two_queries(programs, cpss, make_cpss):
    intakeq = IntakeQPatientFactory(first_name="John", last_name="Smith", date_of_birth=dt.date(1985, 6, 15))
    first_program = CMProgramFactory(name="Program 0")
    result = services.cm_patient_enroll_from_intakeq(intakeq_patient=intakeq, program=first_program, cpss_provider=cpss)
    others = [make_cpss() for _ in range(programs - 1)]
    for n, other in enumerate(others, start=1):
        enroll(CMProgramFactory(name=f"Program {n}"), other, "John", "Smith", "1985-06-15")

    with CaptureQueriesContext(connection) as queries:
        view = selectors.complete_patient_view(result.canonical_patient)
        # Everything the screen shows, read without further queries:
        shown = [
            view.identity.first_name,
            view.person.email,
            view.cm.phone,
            view.intakeq.intakeq_client_id,
            view.intakeq_link.confidence_score,
            [(e.cm_program.name, e.cpss_provider.last_name, e.total_points, e.status) for e in view.enrollments],
        ]
    assert len(queries) == 2
    assert shown[0] == "John" and shown[2] == result.cm_patient.phone and shown[3] == intakeq.intakeq_client_id
    assert [row[0] for row in shown[5]] == ["Program 0", *[f"Program {n}" for n in range(1, programs)]]
    assert [row[1] for row in shown[5]] == [cpss.last_name, *[o.last_name for o in others]]
    assert all(row[2] == 25 and row[3] == "active" for row in shown[5])


@pytest.mark.django_db
def test_complete_patient_view_of_a_cm_only_patient(program, cpss, django_assert_num_queries):
    result = enroll(program, cpss, "Jessica", "Martinez")
    with django_assert_num_queries(2):
        view = selectors.complete_patient_view(result.canonical_patient.pk)
        assert view.intakeq is None and view.intakeq_link is None
        assert view.cm == result.cm_patient and [e.pk for e in view.enrollments] == [result.enrollment.pk]


@pytest.mark.django_db
def test_dual_enrollments_lists_patients_with_an_intakeq_link_and_a_cm_record(program, cpss, django_assert_num_queries):
    dual = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(first_name="John", last_name="Smith"), program=program, cpss_provider=cpss
    )
    enroll(program, cpss, "Jessica", "Martinez")  # CM only
    only_intakeq = services.canonical_patient_find_or_create(
        first_name="Tom", last_name="Whitaker", date_of_birth="1969-08-30"
    ).canonical_patient
    services.intakeq_link_create(canonical_patient=only_intakeq, intakeq_patient=IntakeQPatientFactory())
    with django_assert_num_queries(1):
        rows = [
            (p.first_name, p.cm_profile.enrollment_source, p.intakeq_link.intakeq_patient.intakeq_client_id)
            for p in selectors.dual_enrollments()
        ]
    assert rows == [("John", "existing_patient", dual.intakeq_link.intakeq_patient.intakeq_client_id)]


@pytest.mark.django_db
def test_intakeq_patient_find_ignores_case_accents_and_spaces():
    record = IntakeQPatientFactory(first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14))
    IntakeQPatientFactory(first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 15))
    found = selectors.intakeq_patient_find(
        first_name=" jose", last_name="HERNANDEZ", date_of_birth=dt.date(1987, 9, 14)
    )
    assert list(found) == [record]


@pytest.mark.django_db
def test_cpss_caseload_summary_values(program):
    now = timezone.make_aware(dt.datetime(2026, 3, 4, 12, 0))  # a Wednesday; the week began Monday 2 March
    busy = CMProviderFactory(first_name="Bea", last_name="Busy", max_caseload=4)
    CMProviderFactory(first_name="Ivan", last_name="Idle", max_caseload=10)
    recent = enroll(program, busy, "Recent", enrollment_date=now - dt.timedelta(days=30)).enrollment
    quiet = enroll(program, busy, "Quiet", enrollment_date=now - dt.timedelta(days=30)).enrollment
    paused = enroll(program, busy, "Paused", enrollment_date=now - dt.timedelta(days=30)).enrollment
    services.cm_event_record(enrollment=recent, event_type="test_negative", occurred_at=now - dt.timedelta(hours=1))
    services.cm_event_record(enrollment=quiet, event_type="group_attendance", occurred_at=now - dt.timedelta(days=8))
    # A correction is not contact with the patient, but its points count.
    services.cm_event_record(
        enrollment=quiet,
        event_type="manual_adjustment",
        points=5,
        reason="goodwill",
        occurred_at=now - dt.timedelta(minutes=30),
    )
    services.cm_enrollment_set_status(enrollment=paused, status="paused")

    rows = {row.provider.last_name: row for row in selectors.cpss_caseload_summary(now=now)}
    assert set(rows) == {"Busy", "Idle"}
    b = rows["Busy"]
    assert (b.active_enrollments, b.max_caseload, b.places_left, str(b.load_ratio)) == (2, 4, 2, "0.50")
    assert b.without_event_7_days == 1  # "Quiet": last behaviour 8 days ago (the paused one does not count)
    assert b.points_this_week == 50 + 5  # the attendance and the bonuses were before Monday
    i = rows["Idle"]
    assert (i.active_enrollments, i.without_event_7_days, i.points_this_week, str(i.load_ratio)) == (0, 0, 0, "0.00")


@pytest.mark.django_db
def test_points_this_week_start_on_monday_and_count_reversals(program, cpss):
    monday_noon = timezone.make_aware(dt.datetime(2026, 3, 2, 12, 0))  # a Monday
    enrollment = enroll(program, cpss, "Ann", enrollment_date=monday_noon - dt.timedelta(days=10)).enrollment
    services.cm_event_record(
        enrollment=enrollment, event_type="group_attendance", occurred_at=monday_noon - dt.timedelta(days=1)
    )
    award = services.cm_event_record(
        enrollment=enrollment, event_type="peer_support", occurred_at=monday_noon - dt.timedelta(hours=1)
    )
    services.cm_event_record(
        enrollment=enrollment, event_type="weekly_checkin", occurred_at=monday_noon - dt.timedelta(minutes=30)
    )
    # The reversal is written now (after monday_noon): it is not part of that week.
    services.cm_points_reverse(points_transaction=award, reason="duplicate")
    (row,) = selectors.cpss_caseload_summary(now=monday_noon)
    assert row.points_this_week == 20 + 10


@pytest.mark.django_db
@pytest.mark.parametrize("providers", [1, 5])
def test_cpss_caseload_summary_is_one_query(providers, program, django_assert_num_queries):
    for n in range(providers):
        cpss = CMProviderFactory()
        enrollment = enroll(program, cpss, f"P{n}").enrollment
        services.cm_event_record(enrollment=enrollment, event_type="test_negative")
    with django_assert_num_queries(1):
        rows = selectors.cpss_caseload_summary()
    assert len(rows) == providers
    assert all((r.active_enrollments, r.points_this_week) == (1, 75) for r in rows)


@pytest.mark.django_db
def test_a_cpss_sees_only_their_own_caseload(program, make_cpss, cm_supervisor_user, navigator_user, superuser):
    ann = make_cpss("ann_cpss", last_name="Ann")
    bob = make_cpss("bob_cpss", last_name="Bob")
    mine = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(), program=program, cpss_provider=ann
    )
    theirs = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=IntakeQPatientFactory(), program=program, cpss_provider=bob
    )
    services.cm_event_record(enrollment=theirs.enrollment, event_type="group_attendance")

    scoped = {
        "enrollments": selectors.cm_enrollments_visible_to(ann.user),
        "canonical": selectors.canonical_patients_visible_to(ann.user),
        "cm": selectors.cm_patients_visible_to(ann.user),
        "links": selectors.intakeq_links_visible_to(ann.user),
        "intakeq": selectors.intakeq_patients_visible_to(ann.user),
        "ledger": selectors.points_transactions_visible_to(ann.user),
        "providers": selectors.cm_providers_visible_to(ann.user),
    }
    assert list(scoped["enrollments"]) == [mine.enrollment]
    assert list(scoped["canonical"]) == [mine.canonical_patient]
    assert list(scoped["cm"]) == [mine.cm_patient]
    assert list(scoped["links"]) == [mine.intakeq_link]
    assert list(scoped["intakeq"]) == [mine.intakeq_link.intakeq_patient]
    assert list(scoped["ledger"].values_list("enrollment", flat=True)) == [mine.enrollment.pk]
    assert list(scoped["providers"]) == [ann]

    for user in (cm_supervisor_user, superuser):
        assert selectors.cm_enrollments_visible_to(user).count() == 2
        assert selectors.points_transactions_visible_to(user).count() == 3
    assert selectors.cm_enrollments_visible_to(navigator_user).count() == 0
    assert selectors.canonical_patients_visible_to(navigator_user).count() == 0
    assert selectors.cm_programs_visible_to(navigator_user).count() == 0
    # A CPSS login not linked to any provider sees no patients.
    assert selectors.cm_enrollments_visible_to(make_user("loose_cpss", "CPSS")).count() == 0


@pytest.mark.django_db
def test_ledger_discrepancies_name_the_enrollments_that_disagree(program, cpss):
    good = enroll(program, cpss, "Good").enrollment
    bad = enroll(program, cpss, "Bad").enrollment
    services.cm_event_record(enrollment=bad, event_type="test_negative")
    type(bad).objects.filter(pk=bad.pk).update(current_streak=0)
    found = selectors.ledger_discrepancies()
    assert [(d.enrollment.pk, d.stored_points, d.ledger_points, d.stored_streak, d.ledger_streak) for d in found] == [
        (bad.pk, 75, 75, 0, 1)
    ]
    assert good.pk not in {d.enrollment.pk for d in found}


@pytest.mark.django_db
def test_ledger_check_finds_a_discrepancy_after_the_first_batch(program, cpss):
    enrollments = sorted((enroll(program, cpss, f"Batch{i}").enrollment for i in range(5)), key=lambda e: e.pk)
    for enrollment in enrollments:
        services.cm_event_record(enrollment=enrollment, event_type="test_negative")
    last = enrollments[-1]  # the third batch of 2
    type(last).objects.filter(pk=last.pk).update(total_points=1, current_streak=4)

    # Three keyset batches of two enrollments (a query each) and one query to load the one that disagrees.
    with CaptureQueriesContext(connection) as ctx:
        found = selectors.ledger_discrepancies(batch_size=2)
    assert len(ctx.captured_queries) == 4
    assert [(d.enrollment.pk, d.stored_points, d.ledger_points, d.stored_streak, d.ledger_streak) for d in found] == [
        (last.pk, 1, 75, 4, 1)
    ]
    with CaptureQueriesContext(connection) as ctx:
        assert found[0].enrollment.canonical_patient.pk == last.canonical_patient_id
    assert len(ctx.captured_queries) == 0
    assert selectors.ledger_discrepancies(batch_size=2, enrollment_ids=[enrollments[0].pk]) == []


@pytest.mark.django_db
def test_ledger_check_in_sql_replays_the_streak_as_the_services_do(program, cpss):
    """Reversals, positives and missed tests: the SQL streak equals ``streak_from_ledger``, and the
    totals the services keep agree with it, so nothing is reported; a wrong streak is."""
    enrollment = enroll(program, cpss, "Replay").enrollment
    record = lambda kind: services.cm_event_record(enrollment=enrollment, event_type=kind)  # noqa: E731
    record("test_negative")
    positive = record("test_positive")
    record("test_negative")
    record("group_attendance")
    negative = record("test_negative")
    services.cm_points_reverse(points_transaction=positive, reason="lab error")
    services.cm_points_reverse(points_transaction=negative, reason="entered twice")
    record("test_negative")
    enrollment.refresh_from_db()
    entries = list(enrollment.points_transactions.order_by("sequence"))
    assert enrollment.current_streak == selectors.streak_from_ledger(entries) == 3
    assert selectors.ledger_discrepancies(batch_size=1) == []

    type(enrollment).objects.filter(pk=enrollment.pk).update(current_streak=2)
    [found] = selectors.ledger_discrepancies(batch_size=1)
    assert (found.enrollment.pk, found.stored_streak, found.ledger_streak) == (enrollment.pk, 2, 3)
    assert found.stored_points == found.ledger_points == sum(e.points for e in entries)

    record("test_missed")
    type(enrollment).objects.filter(pk=enrollment.pk).update(current_streak=0)
    assert selectors.ledger_discrepancies() == []
