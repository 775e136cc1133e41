"""EAP dossier numbers under concurrency: the unique index decides, and both the API and the admin
answer the loser with the winner's id (never a 500, never a 409 without ``existing_id``)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from common import roles
from journeys.models import EAPJourney, JourneyStatusChange
from journeys.services import journey_open
from tests.admin_smoke import admin_url
from tests.concurrency import post_concurrently, wait_until_a_session_waits_for_a_lock
from tests.conftest import make_user
from tests.factories.patients import PatientFactory
from tests.navigation_api import API, client_for


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_dossier_number_give_one_201_and_409s_naming_the_winner():
    user = make_user("racer", roles.PATIENT_NAVIGATORS)
    patients = [PatientFactory() for _ in range(3)]
    spellings = ["EAP-2026-7", "eap-2026-7", " Eap-2026-7 "]

    def post(i: int):
        body = {"patient": str(patients[i % 3].pk), "product": f"Compound {i}", "eap_number": spellings[i % 3]}
        return client_for(user).post(f"{API}/eap-journeys/", body, format="json")

    outcomes = post_concurrently(12, post)

    assert sorted(str(status) for status, _ in outcomes) == ["201"] + ["409"] * 11, outcomes
    winner = EAPJourney.all_objects.get()
    created = [body for status, body in outcomes if status == 201]
    assert created[0]["id"] == str(winner.pk) and created[0]["eap_number"] == winner.eap_number
    for status, body in outcomes:
        if status == 409:
            error = body["error"]
            assert error["code"] == "conflict" and error["existing_id"] == str(winner.pk), body
            assert error["fields"]["eap_number"] == ["Another EAP journey has this dossier number."], body
    assert JourneyStatusChange.objects.count() == 1 and JourneyStatusChange.objects.get().eap_journey_id == winner.pk


def _hold_an_uncommitted_journey(eap_number: str, patient, ready: threading.Event, held: dict) -> threading.Thread:
    """Another user's transaction inserts a journey with ``eap_number`` and commits only once this
    connection's request waits on the unique index for it (so its check found nothing)."""

    def run() -> None:
        try:
            with transaction.atomic():
                held["journey"] = journey_open(patient=patient, kind="eap", product="Other", eap_number=eap_number)
                ready.set()
                wait_until_a_session_waits_for_a_lock()
        except Exception as exc:  # shown by the test's assertion
            held["error"] = exc
            ready.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_admin_open_that_loses_the_dossier_number_race_is_a_form_error_naming_the_winner(client):
    client.force_login(make_user("root", superuser=True))
    patient = PatientFactory()
    ready, held = threading.Event(), {}
    other = _hold_an_uncommitted_journey("EAP-55", patient, ready, held)
    assert ready.wait(timeout=30)
    try:
        response = client.post(
            admin_url(EAPJourney, "add"),
            {"patient": str(patient.pk), "eap_number": "eap-55", "product": "Mine", "notes": "", "opening_note": ""},
        )
    finally:
        other.join(timeout=30)

    assert "error" not in held, held
    winner = held["journey"]
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "eap_number": [f"Another EAP journey has this dossier number. (existing record: {winner.pk})"]
    }
    assert list(EAPJourney.all_objects.values_list("pk", "product")) == [(winner.pk, "Other")]
    assert JourneyStatusChange.objects.count() == 1


@pytest.mark.django_db
def test_admin_turns_any_integrity_error_into_a_form_error_and_keeps_nothing(client):
    """A rule that PostgreSQL holds and no service checks (here one added for this test, as a later
    migration or a DBA might): the admin shows a form error, never a 500, and nothing is saved."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE journey_status_change ADD CONSTRAINT test_only_no_shouting CHECK (note <> upper(note))"
        )
    client.force_login(make_user("root", superuser=True))
    patient = PatientFactory()

    response = client.post(
        admin_url(EAPJourney, "add"),
        {"patient": str(patient.pk), "eap_number": "EAP-9", "product": "X", "notes": "", "opening_note": "URGENT"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "__all__": ["The database refused this change (rule test_only_no_shouting). Nothing was saved."]
    }
    assert not EAPJourney.all_objects.exists() and not JourneyStatusChange.objects.exists()
