"""Enrollments, their status, events and the points ledger through /api/v1/cm/enrollments/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cm_program import services
from cm_program.models import CMEnrollment, CMPointsTransaction
from common.audit import record_history
from tests.cm_program.api_support import API, error, ids, lonely_canonical_patient, world
from tests.factories.cm_program import CMPatientFactory, CMProgramFactory, CMProviderFactory

__all__ = ["world"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def sup(world):
    return world.client("cm_supervisor")


def events_url(enrollment) -> str:
    return f"{API}/enrollments/{enrollment.pk}/events/"


def ledger_url(enrollment) -> str:
    return f"{API}/enrollments/{enrollment.pk}/ledger/"


def ledger_rows() -> int:
    return CMPointsTransaction.objects.count()


# ---------------------------------------------------------------------------------------------------
# Reading


def test_enrollment_body_nests_what_a_script_needs(sup, world):
    enrollment = world.own.enrollment
    body = sup.get(f"{API}/enrollments/{enrollment.pk}/").json()
    assert body == {
        "id": str(enrollment.pk),
        "canonical_patient": str(world.own.canonical_patient.pk),
        "canonical_patient_detail": {
            "id": str(world.own.canonical_patient.pk),
            "first_name": "Jessica",
            "last_name": "Martinez",
            "date_of_birth": "1992-03-22",
        },
        "cm_patient": str(world.own.cm_patient.pk),
        "cm_program": str(world.program.pk),
        "cm_program_detail": {"id": str(world.program.pk), "name": "Moonlit CM"},
        "cpss_provider": str(world.cpss.pk),
        "cpss_provider_detail": {
            "id": str(world.cpss.pk),
            "first_name": "Casey",
            "last_name": "Peer",
            "credentials": "CPSS-I",
        },
        "total_points": 75,  # enrollment bonus 25 + first negative test 50
        "current_streak": 1,
        "enrollment_date": body["enrollment_date"],
        "status": "active",
        "medicaid_verification": None,
        "pod_assignment": None,
        "notes": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_enrollment_filters_and_ordering(sup, world):
    services.cm_enrollment_set_status(enrollment=world.other.enrollment, status="paused")
    assert ids(sup.get(f"{API}/enrollments/?status=paused")) == {str(world.other.enrollment.pk)}
    assert len(ids(sup.get(f"{API}/enrollments/?status=paused&status=active"))) == 4
    assert ids(sup.get(f"{API}/enrollments/?cpss_provider={world.cpss.pk}")) == {
        str(world.own.enrollment.pk),
        str(world.own_iq.enrollment.pk),
    }
    assert ids(sup.get(f"{API}/enrollments/?canonical_patient={world.other_iq.canonical_patient.pk}")) == {
        str(world.other_iq.enrollment.pk)
    }
    assert ids(sup.get(f"{API}/enrollments/?has_cpss_provider=false")) == set()
    assert len(ids(sup.get(f"{API}/enrollments/?total_points_min=50"))) == 2
    points = [row["total_points"] for row in sup.get(f"{API}/enrollments/?ordering=-total_points").json()["results"]]
    assert points == sorted(points, reverse=True) and points[0] == 75
    assert ids(sup.get(f"{API}/enrollments/?search=gonzalez")) == {str(world.other_iq.enrollment.pk)}
    today = timezone.localdate().isoformat()
    assert len(ids(sup.get(f"{API}/enrollments/?enrollment_date_after={today}"))) == 4
    assert ids(sup.get(f"{API}/enrollments/?enrollment_date_before=2000-01-01")) == set()


# ---------------------------------------------------------------------------------------------------
# Creating


def test_enroll_an_existing_profile(sup, world):
    profile = CMPatientFactory()
    response = sup.post(
        f"{API}/enrollments/",
        {
            "cm_patient_id": str(profile.pk),
            "cm_program_id": str(world.program.pk),
            "cpss_provider_id": str(world.cpss.pk),
            "pod_assignment": "Pod B",
            "medicaid_verification": {"verified": True, "checked_on": "2026-01-05"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["canonical_patient"], body["cm_patient"]) == (str(profile.canonical_patient_id), str(profile.pk))
    assert (body["total_points"], body["current_streak"], body["status"]) == (25, 0, "active")
    assert body["medicaid_verification"] == {"verified": True, "checked_on": "2026-01-05"}
    assert body["pod_assignment"] == "Pod B"
    entry = CMPointsTransaction.objects.get(enrollment_id=body["id"])
    assert (entry.event_type, entry.points, entry.recorded_by.username) == ("enrollment_bonus", 25, "cmsup")


def test_enroll_by_canonical_patient_and_the_default_program(sup, world):
    profile = CMPatientFactory()
    response = sup.post(f"{API}/enrollments/", {"canonical_patient": str(profile.canonical_patient_id)}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["cm_program"] == str(world.program.pk)  # the only active program
    assert response.json()["cpss_provider"] is None  # waiting for a CPSS


def test_enroll_refusals(sup, world):
    before = CMEnrollment.objects.count()
    already = sup.post(
        f"{API}/enrollments/",
        {"cm_patient": str(world.own.cm_patient.pk), "cm_program": str(world.program.pk)},
        format="json",
    )
    assert already.status_code == 409
    assert error(already)["existing_id"] == str(world.own.enrollment.pk)
    assert error(already)["fields"] == {"cm_program": [error(already)["message"]]}
    assert "already enrolled" in error(already)["message"]

    full = CMProviderFactory(max_caseload=0, first_name="Full", last_name="House")
    at_capacity = sup.post(
        f"{API}/enrollments/", {"cm_patient": str(CMPatientFactory().pk), "cpss_provider": str(full.pk)}, format="json"
    )
    assert at_capacity.status_code == 409
    assert error(at_capacity) == {
        "code": "conflict",
        "message": "Full House is at capacity (0 of 0 active enrollments).",
        "fields": {"cpss_provider": ["Full House is at capacity (0 of 0 active enrollments)."]},
        "existing_id": str(full.pk),
    }

    no_profile = sup.post(
        f"{API}/enrollments/", {"canonical_patient": str(lonely_canonical_patient().pk)}, format="json"
    )
    assert no_profile.status_code == 400
    assert error(no_profile)["fields"] == {
        "canonical_patient": ["This patient has no CM profile: use POST /api/v1/cm/enroll/."]
    }
    mismatch = sup.post(
        f"{API}/enrollments/",
        {"cm_patient": str(CMPatientFactory().pk), "canonical_patient": str(world.own.canonical_patient.pk)},
        format="json",
    )
    assert mismatch.status_code == 400 and "canonical_patient" in error(mismatch)["fields"]
    nothing = sup.post(f"{API}/enrollments/", {}, format="json")
    assert nothing.status_code == 400
    assert error(nothing)["fields"] == {"cm_patient": ["This field is required (or give canonical_patient)."]}

    CMProgramFactory(name="Second program")
    which = sup.post(f"{API}/enrollments/", {"cm_patient": str(CMPatientFactory().pk)}, format="json")
    assert which.status_code == 400
    assert error(which)["fields"] == {
        "cm_program": ["This field is required: more than one program (or none) is active."]
    }
    both = sup.post(
        f"{API}/enrollments/",
        {"cm_program": str(world.program.pk), "cm_program_id": str(world.program.pk)},
        format="json",
    )
    assert both.status_code == 400
    assert error(both)["fields"]["cm_program_id"] == ["Give either cm_program or cm_program_id, not both."]
    assert CMEnrollment.objects.count() == before


# ---------------------------------------------------------------------------------------------------
# Changing


def test_patch_enrollment_plain_fields_and_status(sup, world):
    url = f"{API}/enrollments/{world.own.enrollment.pk}/"
    response = world.client("cpss").patch(
        url, {"notes": "Prefers mornings.", "pod_assignment": "Pod A", "status": "paused"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["notes"], body["pod_assignment"], body["status"]) == ("Prefers mornings.", "Pod A", "paused")
    history = record_history(world.own.enrollment)
    assert history[-1].username == "cpss" and history[-1].channel == "api"


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"total_points": 1000}, "total_points", "Points and streak follow the ledger"),
        ({"current_streak": 9}, "current_streak", "Points and streak follow the ledger"),
        ({"cm_program": None}, "cm_program", "stays in its program"),
        ({"status": "graduated_early"}, "status", "is not a valid choice"),
        ({"medicaid_verification": ["not", "an", "object"]}, "medicaid_verification", "Expected an object"),
        ({"notes": "x" * 10001}, "notes", "no more than 10000 characters"),
    ],
)
def test_patch_enrollment_bad_input(sup, world, body, field, message):
    url = f"{API}/enrollments/{world.own.enrollment.pk}/"
    before = CMEnrollment.objects.values().get(pk=world.own.enrollment.pk)
    response = sup.patch(url, body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(error(response)["fields"][field])
    assert CMEnrollment.objects.values().get(pk=world.own.enrollment.pk) == before


def test_supervisor_reassigns_and_a_full_caseload_is_409(sup, world):
    url = f"{API}/enrollments/{world.own.enrollment.pk}/"
    moved = sup.patch(url, {"cpss_provider": str(world.other_cpss.pk)}, format="json")
    assert moved.status_code == 200 and moved.json()["cpss_provider_detail"]["last_name"] == "Jensen"
    full = CMProviderFactory(max_caseload=0)
    refused = sup.patch(url, {"cpss_provider": str(full.pk)}, format="json")
    assert refused.status_code == 409 and error(refused)["existing_id"] == str(full.pk)
    world.own.enrollment.refresh_from_db()
    assert world.own.enrollment.cpss_provider_id == world.other_cpss.pk


def test_status_action_follows_the_allowed_moves(world):
    cpss = world.client("cpss")
    url = f"{API}/enrollments/{world.own.enrollment.pk}/status/"
    paused = cpss.post(url, {"status": "paused", "reason": "In hospital for two weeks."}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert record_history(world.own.enrollment)[-1].context.get("reason") == "In hospital for two weeks."
    graduated = cpss.post(url, {"status": "graduated"}, format="json")
    assert graduated.status_code == 200 and graduated.json()["status"] == "graduated"
    back = cpss.post(url, {"status": "active"}, format="json")
    assert back.status_code == 400
    assert error(back)["fields"] == {"status": ["An enrollment cannot go from graduated to active."]}
    missing = cpss.post(url, {}, format="json")
    assert missing.status_code == 400 and error(missing)["fields"] == {"status": ["This field is required."]}
    world.own.enrollment.refresh_from_db()
    assert world.own.enrollment.status == "graduated"


def test_returning_from_withdrawn_to_a_full_caseload_is_409(sup, world):
    url = f"{API}/enrollments/{world.own.enrollment.pk}/status/"
    assert sup.post(url, {"status": "withdrawn"}, format="json").status_code == 200
    services.cm_provider_update(provider=world.cpss, max_caseload=1)
    refused = sup.post(url, {"status": "active"}, format="json")
    assert refused.status_code == 409 and error(refused)["existing_id"] == str(world.cpss.pk)
    world.own.enrollment.refresh_from_db()
    assert world.own.enrollment.status == "withdrawn"


def test_enrollments_are_withdrawn_not_deleted(sup, world):
    response = sup.delete(f"{API}/enrollments/{world.own.enrollment.pk}/")
    assert response.status_code == 405
    assert error(response) == {"code": "method_not_allowed", "message": 'Method "DELETE" not allowed.'}
    assert CMEnrollment.objects.filter(pk=world.own.enrollment.pk).exists()


# ---------------------------------------------------------------------------------------------------
# Events and the escalating schedule


def test_negative_tests_escalate_and_a_positive_resets(world):
    cpss = world.client("cpss")
    enrollment = world.own.enrollment  # bonus 25 + one negative (50): streak 1
    awarded = []
    for event in ("test_negative", "test_negative", "test_positive", "test_negative"):
        response = cpss.post(events_url(enrollment), {"event_type": event}, format="json")
        assert response.status_code == 201, response.content
        awarded.append(
            (response.json()["points_awarded"], response.json()["total_points"], response.json()["current_streak"])
        )
    assert awarded == [(60, 135, 2), (70, 205, 3), (0, 205, 0), (50, 255, 1)]
    body = response.json()
    entry = body["entry"]
    assert set(body) == {"entry", "points_awarded", "total_points", "current_streak"}
    assert (entry["event_type"], entry["points"], entry["streak_after"], entry["sequence"]) == (
        "test_negative",
        50,
        1,
        6,
    )
    assert (entry["recorded_by"], entry["recorded_by_username"]) == (str(world.users["cpss"].pk), "cpss")
    assert entry["enrollment"] == str(enrollment.pk) and entry["reverses"] is None and entry["reversed_by"] is None
    enrollment.refresh_from_db()
    assert (enrollment.total_points, enrollment.current_streak) == (255, 1)


def test_attendance_checkin_peer_support_and_adjustment(world):
    cpss = world.client("cpss")
    enrollment = world.own_iq.enrollment  # bonus 25
    occurred = (timezone.now() - dt.timedelta(days=2)).isoformat()
    results = {}
    for body in (
        {"event_type": "group_attendance", "occurred_at": occurred},
        {"event_type": "weekly_checkin"},
        {"event_type": "peer_support"},
        {"event_type": "manual_adjustment", "points": -15, "reason": "Gift card redeemed."},
    ):
        response = cpss.post(events_url(enrollment), body, format="json")
        assert response.status_code == 201, response.content
        results[body["event_type"]] = response.json()["points_awarded"]
    assert results == {"group_attendance": 25, "weekly_checkin": 10, "peer_support": 20, "manual_adjustment": -15}
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25 + 25 + 10 + 20 - 15
    first = CMPointsTransaction.objects.get(enrollment=enrollment, event_type="group_attendance")
    assert first.occurred_at.isoformat() == occurred


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({}, "event_type", "This field is required."),
        ({"event_type": "bribe"}, "event_type", '"bribe" is not a valid choice.'),
        ({"event_type": "enrollment_bonus"}, "event_type", '"enrollment_bonus" is not a valid choice.'),
        ({"event_type": "reversal"}, "event_type", '"reversal" is not a valid choice.'),
        ({"event_type": "test_negative", "points": 500}, "points", "Points of scheduled events come from"),
        ({"event_type": "manual_adjustment", "points": 10}, "reason", "A manual adjustment needs a reason."),
        ({"event_type": "manual_adjustment", "reason": "x"}, "points", "whole, non-zero number"),
        ({"event_type": "manual_adjustment", "points": 0, "reason": "x"}, "points", "whole, non-zero number"),
        ({"event_type": "manual_adjustment", "points": -500, "reason": "x"}, "points", "cannot go below zero"),
        ({"event_type": "manual_adjustment", "points": 1.5, "reason": "x"}, "points", "A valid integer is required."),
        ({"event_type": "manual_adjustment", "points": 10**9, "reason": "x"}, "points", "less than or equal to"),
        ({"event_type": "weekly_checkin", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "future"),
        ({"event_type": "weekly_checkin", "occurred_at": "yesterday"}, "occurred_at", "wrong format"),
        ({"event_type": "weekly_checkin", "total_points": 1}, "total_points", "Unknown field"),
    ],
)
def test_event_bad_input_is_400_and_writes_nothing(sup, world, body, field, message):
    before = (ledger_rows(), CMEnrollment.objects.values_list("total_points").get(pk=world.own.enrollment.pk))
    response = sup.post(events_url(world.own.enrollment), body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(error(response)["fields"][field]), error(response)
    assert (ledger_rows(), CMEnrollment.objects.values_list("total_points").get(pk=world.own.enrollment.pk)) == before


def test_events_only_on_active_enrollments(sup, world):
    services.cm_enrollment_set_status(enrollment=world.own.enrollment, status="paused")
    response = sup.post(events_url(world.own.enrollment), {"event_type": "test_negative"}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "enrollment": ["The enrollment is paused; events are recorded on active enrollments."]
    }


# ---------------------------------------------------------------------------------------------------
# The ledger and reversals


def test_ledger_is_a_paginated_filterable_read(world):
    enrollment = world.own.enrollment
    for _ in range(3):
        services.cm_event_record(enrollment=enrollment, event_type="weekly_checkin")
    cpss = world.client("cpss")
    body = cpss.get(f"{ledger_url(enrollment)}?page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2 and "cursor=" in body["next"]
    assert [row["sequence"] for row in body["results"]] == [1, 2]
    assert [row["event_type"] for row in body["results"]] == ["enrollment_bonus", "test_negative"]
    checkins = cpss.get(f"{ledger_url(enrollment)}?event_type=weekly_checkin&ordering=-sequence").json()
    assert [row["sequence"] for row in checkins["results"]] == [5, 4, 3]
    entry = body["results"][0]
    assert set(entry) == {
        "id",
        "enrollment",
        "canonical_patient",
        "sequence",
        "event_type",
        "points",
        "reason",
        "reverses",
        "reversed_by",
        "streak_after",
        "recorded_by",
        "recorded_by_username",
        "occurred_at",
        "created_at",
    }
    detail = cpss.get(f"{ledger_url(enrollment)}{entry['id']}/").json()
    assert detail == entry


def test_ledger_entries_cannot_be_changed_or_deleted(sup, world):
    entry = world.own_entry()
    url = f"{ledger_url(world.own.enrollment)}{entry.pk}/"
    for method in ("patch", "put", "delete"):
        response = getattr(sup, method)(url, {"points": 1000}, format="json")
        assert response.status_code == 405, (method, response.content)
    post = sup.post(ledger_url(world.own.enrollment), {"event_type": "test_negative"}, format="json")
    assert post.status_code == 405
    entry.refresh_from_db()
    assert entry.points == 50


def test_reverse_an_entry_then_again_is_409(world):
    cpss = world.client("cpss")
    entry = world.own_entry()  # the negative test, 50 points, streak 1
    rows_before = ledger_rows()
    url = f"{ledger_url(world.own.enrollment)}{entry.pk}/reverse/"
    response = cpss.post(url, {"reason": "The lab retracted the result."}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["points_awarded"], body["total_points"], body["current_streak"]) == (-50, 25, 0)
    assert body["entry"]["event_type"] == "reversal" and body["entry"]["reverses"] == str(entry.pk)
    assert body["entry"]["reason"] == "The lab retracted the result."
    original = cpss.get(f"{ledger_url(world.own.enrollment)}{entry.pk}/").json()
    assert original["reversed_by"] == body["entry"]["id"] and original["points"] == 50

    again = cpss.post(url, {"reason": "Twice?"}, format="json")
    assert again.status_code == 409
    assert error(again) == {
        "code": "conflict",
        "message": "Entry #2 was already reversed by entry #3.",
        "fields": {"points_transaction": ["Entry #2 was already reversed by entry #3."]},
        "existing_id": body["entry"]["id"],
    }
    of_reversal = cpss.post(
        f"{ledger_url(world.own.enrollment)}{body['entry']['id']}/reverse/", {"reason": "x"}, format="json"
    )
    assert of_reversal.status_code == 400
    assert error(of_reversal)["fields"] == {
        "points_transaction": ["A reversal cannot be reversed; record a new event instead."]
    }
    assert ledger_rows() == rows_before + 1  # the one reversal


def test_reverse_needs_a_reason(sup, world):
    url = f"{ledger_url(world.own.enrollment)}{world.own_entry().pk}/reverse/"
    for body, message in (({}, "This field is required."), ({"reason": "  "}, "A reversal needs a reason.")):
        response = sup.post(url, body, format="json")
        assert response.status_code == 400
        assert error(response)["fields"] == {"reason": [message]}
    assert not CMPointsTransaction.objects.filter(event_type="reversal").exists()


def test_ledger_of_an_unknown_enrollment_is_404(sup, world):
    response = sup.get(f"{API}/enrollments/00000000-0000-0000-0000-000000000000/ledger/")
    assert response.status_code == 404 and error(response)["code"] == "not_found"
