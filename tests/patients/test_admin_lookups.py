"""Hospitals and specializations in the admin: saved through their services (the API's rules and
answers), names unique ignoring case and surrounding spaces down to PostgreSQL, races included."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from common.audit import record_history
from patients import services
from patients.models import Hospital, Specialization
from tests.admin_smoke import admin_url
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.conftest import make_user
from tests.db import assert_refused, raw_insert


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


@pytest.mark.django_db
def test_hospital_admin_saves_through_the_service_and_retires_only_with_a_reason(admin_client, superuser):
    # No "active" box on the forms: a hospital is retired with a reason (the delete action), not unticked.
    assert "is_active" not in admin_client.get(admin_url(Hospital, "add")).context["adminform"].form.fields
    response = admin_client.post(
        admin_url(Hospital, "add"),
        {"name": " Mercy West ", "city": "Seattle", "country": "USA", "address": "", "is_active": "on"},
    )
    assert response.status_code == 302
    hospital = Hospital.objects.get()
    assert (hospital.name, hospital.city, hospital.country) == ("Mercy West", "Seattle", "USA") and hospital.is_active
    assert [(e.username, e.channel) for e in record_history(hospital)] == [(superuser.username, "admin")]

    again = admin_client.post(
        admin_url(Hospital, "add"),
        {"name": "MERCY WEST", "city": "seattle ", "country": "usa", "address": "", "is_active": "on"},
    )
    assert form_errors(again) == {"__all__": ["This hospital already exists in this city and country."]}
    assert Hospital.all_objects.count() == 1

    response = admin_client.post(
        admin_url(Hospital, "change", hospital.pk),
        # A browser posts nothing for an unticked checkbox.
        {"name": "Mercy West Medical Center", "city": "Seattle", "country": "", "address": ""},
    )
    assert response.status_code == 302
    hospital.refresh_from_db()
    assert (hospital.name, hospital.is_active, hospital.deletion_reason) == ("Mercy West Medical Center", True, "")


@pytest.mark.django_db
def test_renaming_a_specialization_onto_one_stored_with_stray_spaces_is_refused(admin_client):
    typed_by_sql = raw_insert(Specialization, name="  Oncology ")
    pulmonology = services.specialization_create(name="Pulmonology")
    response = admin_client.post(
        admin_url(Specialization, "change", pulmonology.pk), {"name": "oncology", "is_active": "on"}
    )
    assert form_errors(response) == {"__all__": ["A specialization with this name already exists."]}
    pulmonology.refresh_from_db()
    assert pulmonology.name == "Pulmonology" and Specialization.all_objects.count() == 2
    response = admin_client.post(
        admin_url(Specialization, "change", pulmonology.pk), {"name": " Pulmonary medicine ", "is_active": "on"}
    )
    assert response.status_code == 302
    pulmonology.refresh_from_db()
    assert pulmonology.name == "Pulmonary medicine"
    assert Specialization.all_objects.get(pk=typed_by_sql).name == "  Oncology "


@pytest.mark.django_db
def test_postgresql_refuses_lookup_names_that_differ_only_in_case_or_spaces():
    raw_insert(Specialization, name="Neurology")
    assert_refused("specialization_name_ci_uniq", raw_insert, Specialization, name=" neurology ")
    raw_insert(Hospital, name="Mercy West", city="Seattle", country="USA")
    assert_refused(
        "hospital_name_city_country_ci_uniq", raw_insert, Hospital, name="mercy west ", city=" SEATTLE", country="usa"
    )
    raw_insert(Hospital, name="Mercy West", city="Tacoma", country="USA")


@pytest.mark.django_db
def test_the_services_find_a_clash_stored_with_spaces_by_other_means():
    """A row typed in by SQL with stray spaces is the same specialization: a 409 naming it, not a 500."""
    stored = raw_insert(Specialization, name="  Oncology ")
    with pytest.raises(services.ConflictError) as caught:
        services.specialization_create(name="oncology")
    assert caught.value.existing_id == stored


@pytest.mark.django_db(transaction=True)
def test_admin_add_that_loses_a_race_for_the_name_is_a_form_error_naming_the_winner(client):
    client.force_login(make_user("root", superuser=True))
    ready, held = threading.Event(), {}

    def another_user_adds_cardiology() -> None:
        # Inserted, uncommitted, until the admin's insert waits on the unique index for it.
        try:
            with transaction.atomic():
                held["winner"] = services.specialization_create(name="Cardiology")
                ready.set()
                wait_until_a_session_waits_for_a_lock()
        except Exception as exc:  # shown by the assertion below
            held["error"] = exc
            ready.set()
        finally:
            connection.close()

    other = threading.Thread(target=another_user_adds_cardiology)
    other.start()
    assert ready.wait(timeout=30)
    try:
        response = client.post(admin_url(Specialization, "add"), {"name": "cardiology", "is_active": "on"})
    finally:
        other.join(timeout=30)

    assert "error" not in held, held
    winner = held["winner"]
    assert form_errors(response) == {
        "name": [f"A specialization with this name already exists. (existing record: {winner.pk})"]
    }
    assert list(Specialization.all_objects.values_list("pk", "name")) == [(winner.pk, "Cardiology")]
