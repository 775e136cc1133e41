"""The CM desk in the admin: the enrollment page (header, ledger, "record event"), refusals shown as
errors instead of 500s, saves that lose a race, and the audit-trail history pages."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cm_program import services
from cm_program.admin import CanonicalPatientAdmin, CMEnrollmentAdmin
from cm_program.models import CanonicalPatient, CMEnrollment, CMPointsTransaction
from tests.factories.cm_program import CMProgramFactory


def change_url(enrollment) -> str:
    return reverse("admin:cm_program_cmenrollment_change", args=[enrollment.pk])


def record_url(enrollment) -> str:
    return reverse("admin:cm_program_cmenrollment_record_event", args=[enrollment.pk])


def figures(body: str) -> tuple[int, int]:
    """(total points, streak) as the page's header shows them."""
    points = re.search(r'id="cm-total-points">(\d+)<', body)
    streak = re.search(r'id="cm-streak">(\d+)<', body)
    assert points and streak, "the header with points and streak is missing"
    return int(points.group(1)), int(streak.group(1))


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def enrolled(program, cpss):
    return services.cm_patient_enroll_new(
        first_name="Jessica",
        last_name="Martinez",
        date_of_birth="1992-03-22",
        program=program,
        cpss_provider=cpss,
        phone="+18015550123",
        email="jessica@example.org",
        insurance_primary="Utah Medicaid",
        smartphone_access="limited",
    ).enrollment


@pytest.mark.django_db
def test_enrollment_page_shows_identity_profile_program_points_and_streak(client, cpss, enrolled, program):
    client.force_login(cpss.user)
    response = client.get(change_url(enrolled))
    assert response.status_code == 200
    body = response.content.decode()
    for text in (
        "Jessica Martinez",
        "22 Mar 1992",
        "+18015550123",
        "jessica@example.org",
        "Utah Medicaid",
        "Limited",
        program.name,
        "Ann Peer",
        'id="cm-status">Active<',
        "The next negative test earns +50.",
    ):
        assert text in body, text
    assert figures(body) == (25, 0)
    assert response.context["desk"]["record_form"] is not None
    choices = dict(response.context["desk"]["record_form"].fields["event_type"].choices)
    assert choices["test_negative"] == "Drug test: negative (+50, streak 1)"
    assert choices["group_attendance"] == "Group attendance (+25)"


@pytest.mark.django_db
def test_recording_negative_tests_applies_the_schedule_and_says_what_it_awarded(client, cpss, enrolled):
    client.force_login(cpss.user)

    first = client.post(record_url(enrolled), {"event-event_type": "test_negative"})
    assert first.status_code == 302 and first.url == change_url(enrolled) + "#cm-desk"
    page = client.get(change_url(enrolled))
    assert page_messages(page) == [
        "Drug test: negative recorded for Jessica Martinez (1992-03-22): +50 points. Total 75 points, streak 1."
    ]
    assert figures(page.content.decode()) == (75, 1)

    client.post(record_url(enrolled), {"event-event_type": "test_negative"})
    page = client.get(change_url(enrolled))
    assert "+60 points. Total 135 points, streak 2." in page_messages(page)[0]
    assert figures(page.content.decode()) == (135, 2)
    assert "The next negative test earns +70." in page.content.decode()

    client.post(record_url(enrolled), {"event-event_type": "test_positive", "event-reason": "Lab result"})
    page = client.get(change_url(enrolled))
    assert "+0 points. Total 135 points, streak 0." in page_messages(page)[0]
    latest = page.context["desk"]["ledger"][0]
    assert (latest.sequence, latest.event_type, latest.reason, latest.recorded_by) == (
        4,
        "test_positive",
        "Lab result",
        cpss.user,
    )


@pytest.mark.django_db
def test_manual_adjustment_with_points_and_reason(client, cm_supervisor_user, enrolled):
    client.force_login(cm_supervisor_user)
    response = client.post(
        record_url(enrolled),
        {"event-event_type": "manual_adjustment", "event-points": "-5", "event-reason": "Gift card handed out twice"},
        follow=True,
    )
    assert response.status_code == 200
    assert "-5 points. Total 20 points, streak 0." in page_messages(response)[0]
    entry = enrolled.points_transactions.get(sequence=2)
    assert (entry.points, entry.reason, entry.recorded_by) == (-5, "Gift card handed out twice", cm_supervisor_user)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"event-event_type": "manual_adjustment", "event-points": "10"}, "reason", "needs a reason"),
        ({"event-event_type": "manual_adjustment", "event-reason": "x"}, "points", "whole, non-zero"),
        (
            {"event-event_type": "manual_adjustment", "event-points": "-100", "event-reason": "x"},
            "points",
            "cannot go below zero",
        ),
        ({"event-event_type": "test_negative", "event-points": "99"}, "points", "program's schedule"),
        ({"event-event_type": "group_attendance", "event-occurred_at": "2999-01-01T10:00"}, "occurred_at", "future"),
        ({"event-event_type": "reversal"}, "event_type", "not one of the available choices"),
        ({"event-event_type": ""}, "event_type", "required"),
        ({"event-event_type": "manual_adjustment", "event-points": "ten", "event-reason": "x"}, "points", "whole"),
        ({"event-event_type": "group_attendance", "event-occurred_at": "yesterday"}, "occurred_at", "valid"),
    ],
    ids=[
        "adjustment-without-reason",
        "adjustment-without-points",
        "balance-below-zero",
        "points-on-a-scheduled-event",
        "in-the-future",
        "system-event",
        "no-event",
        "points-not-a-number",
        "date-not-a-date",
    ],
)
def test_refused_events_show_the_reason_on_the_page_and_change_nothing(client, cpss, enrolled, data, field, message):
    client.force_login(cpss.user)
    response = client.post(record_url(enrolled), data)
    assert response.status_code == 200
    form = response.context["desk"]["record_form"]
    assert message in " ".join(form.errors[field]), form.errors
    assert message in response.content.decode().replace("&#x27;", "'")
    enrolled.refresh_from_db()
    assert (enrolled.total_points, enrolled.current_streak, enrolled.points_transactions.count()) == (25, 0, 1)


@pytest.mark.django_db
def test_a_paused_enrollment_takes_no_events(client, cpss, enrolled):
    services.cm_enrollment_set_status(enrollment=enrolled, status="paused", reason="Hospital stay")
    client.force_login(cpss.user)
    page = client.get(change_url(enrolled))
    assert page.context["desk"]["record_form"] is None
    assert "This enrollment is paused: events are recorded on active enrollments." in page.content.decode()

    refused = client.post(record_url(enrolled), {"event-event_type": "group_attendance"})
    assert refused.status_code == 200
    assert "events are recorded on active enrollments" in str(refused.context["desk"]["record_form"].errors)
    assert enrolled.points_transactions.count() == 1


@pytest.mark.django_db
def test_who_may_record_events(client, enrolled, make_cpss, navigator_user, cm_supervisor_user, cpss):
    other_cpss = make_cpss("bob_cpss", last_name="Bob")

    client.force_login(navigator_user)
    assert client.post(record_url(enrolled), {"event-event_type": "group_attendance"}).status_code == 403

    # Another CPSS: the enrollment is outside their caseload, so it does not exist for them.
    client.force_login(other_cpss.user)
    assert client.post(record_url(enrolled), {"event-event_type": "group_attendance"}).status_code == 404
    assert client.get(change_url(enrolled)).status_code == 302
    assert enrolled.points_transactions.count() == 1

    client.force_login(cpss.user)
    assert client.get(record_url(enrolled)).url == change_url(enrolled)  # a GET only leads to the page
    assert client.post(record_url(enrolled), {"event-event_type": "group_attendance"}).status_code == 302
    client.force_login(cm_supervisor_user)
    assert client.post(record_url(enrolled), {"event-event_type": "weekly_checkin"}).status_code == 302
    enrolled.refresh_from_db()
    assert (enrolled.total_points, enrolled.points_transactions.count()) == (60, 3)


@pytest.mark.django_db
def test_the_ledger_entry_history_page_shows_recording_and_reversal(client, superuser, enrolled, cpss):
    entry = services.cm_event_record(enrollment=enrolled, event_type="test_negative", actor=cpss.user)
    services.cm_points_reverse(points_transaction=entry, reason="Sample mislabelled", actor=superuser)
    client.force_login(superuser)
    response = client.get(reverse("admin:cm_program_cmpointstransaction_history", args=[entry.pk]))
    assert response.status_code == 200
    rows = [(e.action, e.username, e.changes["points"]) for e in response.context["entries"]]
    assert rows == [("reversed", "root", "-50"), ("recorded", cpss.user.username, "+50")]
    body = response.content.decode()
    assert "entry #3" in body and "Sample mislabelled" in body


@pytest.mark.django_db
def test_enrollment_history_page_shows_the_audit_trail(client, superuser, enrolled):
    client.force_login(superuser)
    form = {"cpss_provider": enrolled.cpss_provider_id, "status": "paused", "status_reason": "Travel", "notes": ""}
    assert (
        client.post(change_url(enrolled), {**form, "pod_assignment": "", "medicaid_verification": ""}).status_code
        == 302
    )
    response = client.get(reverse("admin:cm_program_cmenrollment_history", args=[enrolled.pk]))
    assert response.status_code == 200
    latest = response.context["entries"][0]
    assert (latest.username, latest.channel, latest.changes["status"]) == ("root", "admin", ["active", "paused"])
    body = response.content.decode()
    assert "root" in body and "active &rarr; paused" in body


# ---------------------------------------------------------------------------------------------------
# Saves that lose a race after the form validated


def _commit_in_another_connection(work) -> None:
    """Run ``work`` in its own thread and database connection and commit it, as another user would."""
    errors = []

    def run():
        try:
            work()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_an_enrollment_that_loses_the_last_place_is_a_message_not_a_500(client, superuser, make_cpss, monkeypatch):
    program = CMProgramFactory(name="Race CM")
    cpss = make_cpss("race_cpss", max_caseload=1)
    profile = services.cm_patient_profile_get_or_create(
        canonical_patient=services.canonical_patient_find_or_create(
            first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
        ).canonical_patient
    )[0]
    original_save_form = CMEnrollmentAdmin.save_form

    def save_form_after_someone_else_took_the_place(self, request, form, change):
        # Between the form's check (a place was free) and the save, another user fills the caseload.
        _commit_in_another_connection(
            lambda: services.cm_patient_enroll_new(
                first_name="Bo", last_name="Quick", date_of_birth="1980-01-01", program=program, cpss_provider=cpss
            )
        )
        return original_save_form(self, request, form, change)

    monkeypatch.setattr(CMEnrollmentAdmin, "save_form", save_form_after_someone_else_took_the_place)
    client.force_login(superuser)
    add = reverse("admin:cm_program_cmenrollment_add")
    response = client.post(add, {"cm_patient": profile.pk, "cm_program": program.pk, "cpss_provider": cpss.pk})
    assert response.status_code == 302 and response.url == add
    shown = page_messages(client.get(add))
    assert len(shown) == 1 and shown[0].startswith("Not saved: ") and "at capacity (1 of 1" in shown[0]
    assert [e.canonical_patient.last_name for e in CMEnrollment.objects.all()] == ["Quick"]


@pytest.mark.django_db(transaction=True)
def test_an_identity_edit_that_collides_with_a_new_patient_is_a_message_not_a_500(client, superuser, monkeypatch):
    anne = services.canonical_patient_find_or_create(
        first_name="Anne", last_name="Lee", date_of_birth="1990-01-01"
    ).canonical_patient
    original_save_form = CanonicalPatientAdmin.save_form

    def save_form_after_someone_created_the_same_identity(self, request, form, change):
        _commit_in_another_connection(
            lambda: services.canonical_patient_find_or_create(
                first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
            )
        )
        return original_save_form(self, request, form, change)

    monkeypatch.setattr(CanonicalPatientAdmin, "save_form", save_form_after_someone_created_the_same_identity)
    client.force_login(superuser)
    change = reverse("admin:cm_program_canonicalpatient_change", args=[anne.pk])
    response = client.post(change, {"first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-01"})
    assert response.status_code == 302 and response.url == change
    shown = page_messages(client.get(change))
    # The edit goes through canonical_patient_update, which finds the other row and names it.
    assert shown == [
        "Not saved: The canonical patient Ann Lee (1990-01-01) already exists. Nothing was changed; the page "
        "shows the current values."
    ]
    anne.refresh_from_db()
    assert anne.first_name == "Anne"
    assert CanonicalPatient.objects.count() == 2


@pytest.mark.django_db
def test_when_field_accepts_the_browsers_datetime_local_value(client, cpss, enrolled):
    client.force_login(cpss.user)
    when = timezone.localtime() - dt.timedelta(days=2)
    client.post(
        record_url(enrolled),
        {"event-event_type": "group_attendance", "event-occurred_at": when.strftime("%Y-%m-%dT%H:%M")},
    )
    entry = CMPointsTransaction.objects.get(enrollment=enrolled, sequence=2)
    assert timezone.localtime(entry.occurred_at).strftime("%Y-%m-%d %H:%M") == when.strftime("%Y-%m-%d %H:%M")
