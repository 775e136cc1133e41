"""A call as the CRM document (and the original FastAPI service) describes it can be logged and edited:
no ``direction`` (outbound by default), ``patient_id`` / ``pn_id`` for the patient and the navigator, and a
``reminder_date`` sent as a date-time, whose date is taken in ``settings.TIME_ZONE``."""

from __future__ import annotations

import datetime as dt

import pytest

from patients.models import CallHistory
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory
from tests.navigation_api import API, assert_error, client_for, written_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def nav(navigator_user):
    return client_for(navigator_user)


def document_call(for_patient, by_navigator, **overrides):
    """Only the fields of the document's call, named as the original API named them."""
    return {
        "patient_id": str(for_patient.pk),
        "pn_id": str(by_navigator.pk),
        "call_date": "2026-03-01T10:00:00-08:00",
        "booking_date": "2026-03-05T09:30:00-08:00",
        "reminder_date": "2026-03-01T23:30:00-08:00",
        "no_show": False,
        "call_duration_minutes": 12,
        "outcome": "reached",
        "notes": "Discussed the screening visit.",
        **overrides,
    }


def test_a_call_with_only_the_documents_fields_is_logged_outbound(nav, settings):
    settings.TIME_ZONE = "UTC"
    patient, navigator = PatientFactory(), NavigatorFactory()
    response = nav.post(f"{API}/call-history/", document_call(patient, navigator), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["direction"] == "outbound"
    assert body["patient"] == str(patient.pk) and body["navigator"] == str(navigator.pk)
    # 23:30 at UTC-8 is 07:30 the next day in UTC: the follow-up day is the 2nd.
    assert body["reminder_date"] == "2026-03-02"
    call = CallHistory.objects.get(pk=body["id"])
    assert (call.direction, call.reminder_date, call.call_duration_minutes, call.notes) == (
        "outbound",
        dt.date(2026, 3, 2),
        12,
        "Discussed the screening visit.",
    )
    assert call.booking_date == dt.datetime(2026, 3, 5, 17, 30, tzinfo=dt.UTC)


def test_the_reminder_date_time_is_read_in_the_configured_time_zone(nav, settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    patient, navigator = PatientFactory(), NavigatorFactory()
    response = nav.post(f"{API}/call-history/", document_call(patient, navigator), format="json")
    assert response.status_code == 201, response.content
    assert CallHistory.objects.get(pk=response.json()["id"]).reminder_date == dt.date(2026, 3, 1)
    plain = nav.post(
        f"{API}/call-history/", document_call(patient, navigator, reminder_date="2026-03-04"), format="json"
    )
    assert plain.status_code == 201 and plain.json()["reminder_date"] == "2026-03-04"


def test_the_api_names_and_the_direction_still_work(nav):
    patient, navigator = PatientFactory(), NavigatorFactory()
    body = {"patient": str(patient.pk), "navigator": str(navigator.pk), "direction": "inbound", "outcome": "busy"}
    response = nav.post(f"{API}/call-history/", body, format="json")
    assert response.status_code == 201 and response.json()["direction"] == "inbound"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"patient": "00000000-0000-0000-0000-000000000000"}, "patient_id"),  # both spellings at once
        ({"navigator": "00000000-0000-0000-0000-000000000000"}, "pn_id"),
        ({"reminder_date": "2026-03-01T25:00:00Z"}, "reminder_date"),
        ({"reminder_date": "next week"}, "reminder_date"),
        ({"reminder_date": 20260301}, "reminder_date"),
        ({"booking_date": "soon"}, "booking_date"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_bad_document_calls_are_400_naming_the_field(nav, overrides, field):
    patient, navigator = PatientFactory(), NavigatorFactory()
    before = written_rows()
    response = nav.post(f"{API}/call-history/", document_call(patient, navigator, **overrides), format="json")
    assert_error(response, 400, "invalid", fields=(field,))
    assert written_rows() == before


def test_put_takes_the_documents_fields_too(nav, settings):
    settings.TIME_ZONE = "UTC"
    call = CallHistoryFactory(direction="inbound", call_date=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    response = nav.put(
        f"{API}/call-history/{call.pk}/",
        {"patient_id": str(call.patient_id), "reminder_date": "2026-03-09T22:00:00-05:00", "no_show": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    call.refresh_from_db()
    assert (call.reminder_date, call.no_show, call.direction) == (dt.date(2026, 3, 10), True, "inbound")
    moved = nav.put(f"{API}/call-history/{call.pk}/", {"patient_id": str(PatientFactory().pk)}, format="json")
    assert_error(moved, 400, "invalid", fields=("patient",))
