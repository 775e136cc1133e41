"""CM programs and IntakeQ patients in the admin: saved through their services, so the admin refuses
what the API refuses, with the same messages; program names unique ignoring case in PostgreSQL too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from cm_program import services
from cm_program.models import CMProgram, IntakeQPatient
from common.audit import record_history
from tests.db import assert_refused, raw_insert


def url(model, action: str, *args) -> str:
    return reverse(f"admin:cm_program_{model._meta.model_name}_{action}", args=args)


def program_form(**overrides) -> dict:
    return {
        "name": "Moonlit CM",
        "description": "",
        "is_active": "on",
        "points_group_attendance": 25,
        "points_negative_test_base": 50,
        "points_negative_test_increment": 10,
        "points_negative_test_cap": 100,
        "points_weekly_checkin": 10,
        "points_peer_support": 20,
        "points_enrollment_bonus": 25,
        **overrides,
    }


def form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


@pytest.mark.django_db
def test_a_program_name_that_differs_only_in_case_is_refused_in_the_admin(client, cm_supervisor_user):
    client.force_login(cm_supervisor_user)
    assert client.post(url(CMProgram, "add"), program_form()).status_code == 302
    moonlit = CMProgram.objects.get()
    assert [(e.username, e.channel) for e in record_history(moonlit)] == [("cmsup", "admin")]

    response = client.post(url(CMProgram, "add"), program_form(name=" moonlit cm "))
    assert form_errors(response) == {"name": ["A CM program named Moonlit CM already exists."]}
    other = client.post(url(CMProgram, "add"), program_form(name="Sunrise CM"))
    assert other.status_code == 302
    sunrise = CMProgram.objects.get(name="Sunrise CM")
    response = client.post(url(CMProgram, "change", sunrise.pk), program_form(name="MOONLIT CM"))
    assert form_errors(response) == {"name": ["A CM program named Moonlit CM already exists."]}
    assert sorted(CMProgram.objects.values_list("name", flat=True)) == ["Moonlit CM", "Sunrise CM"]


@pytest.mark.django_db
def test_postgresql_refuses_a_second_program_name_ignoring_case_and_spaces():
    raw_insert(CMProgram, name="Moonlit CM")
    assert_refused("contingency_management_name_ci_uniq", raw_insert, CMProgram, name="moonlit cm ")


@pytest.mark.django_db
def test_an_intakeq_date_of_birth_in_the_future_is_refused_in_the_admin(client, cm_supervisor_user):
    client.force_login(cm_supervisor_user)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    record = {"intakeq_client_id": "IQ-1", "first_name": "Ann", "last_name": "Lee", "email": "", "phone": ""}

    response = client.post(url(IntakeQPatient, "add"), {**record, "date_of_birth": tomorrow})
    with pytest.raises(ValidationError) as caught:  # what the API's service answers
        services.intakeq_patient_create(first_name="Ann", last_name="Lee", date_of_birth=tomorrow)
    assert form_errors(response) == {"date_of_birth": caught.value.message_dict["date_of_birth"]}
    assert not IntakeQPatient.objects.exists()

    assert client.post(url(IntakeQPatient, "add"), {**record, "date_of_birth": "1980-02-29"}).status_code == 302
    stored = IntakeQPatient.objects.get()
    response = client.post(url(IntakeQPatient, "change", stored.pk), {**record, "date_of_birth": tomorrow})
    assert form_errors(response) == {"date_of_birth": caught.value.message_dict["date_of_birth"]}
    stored.refresh_from_db()
    assert stored.date_of_birth == dt.date(1980, 2, 29)


@pytest.mark.django_db
def test_an_intakeq_email_is_checked_and_stored_as_the_service_normalises_it(client, cm_supervisor_user):
    client.force_login(cm_supervisor_user)
    record = {"intakeq_client_id": "IQ-2", "first_name": " Bo ", "last_name": "Diaz", "date_of_birth": "1975-05-05"}
    response = client.post(url(IntakeQPatient, "add"), {**record, "email": "not-an-email", "phone": ""})
    assert list(form_errors(response)) == ["email"]
    response = client.post(url(IntakeQPatient, "add"), {**record, "email": " Bo.Diaz@Example.ORG ", "phone": ""})
    assert response.status_code == 302
    stored = IntakeQPatient.objects.get()
    assert (stored.first_name, stored.email) == ("Bo", "bo.diaz@example.org")
