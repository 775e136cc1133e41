"""Helpers of the patient-navigation API tests."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

API = "/api/v1"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def assert_error(response, status: int, code: str, *, fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The response is ``status`` in the one error shape with ``code``, naming at least ``fields``."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    for field in fields:
        assert field in error.get("fields", {}), error
    return error


def results(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content[:2000]
    body = response.json()
    assert set(body) == {"count", "count_is", "next", "previous", "results"}, body
    return body["results"]


def ids(response) -> set[str]:
    return {row["id"] for row in results(response)}


def written_rows() -> dict[str, int]:
    """Row counts of every table a patient-navigation write could touch, audit events included."""
    from pghistory.models import Events

    from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
    from patients.models import (
        CallHistory,
        Hospital,
        MedicalCondition,
        Patient,
        PatientLead,
        Physician,
        Specialization,
    )
    from people.models import Person, PersonContactType

    models = (
        Person,
        PersonContactType,
        Patient,
        PatientLead,
        Physician,
        CallHistory,
        MedicalCondition,
        Hospital,
        Specialization,
        ClinicalTrialJourney,
        EAPJourney,
        JourneyStatusChange,
    )
    counts = {model.__name__: model._base_manager.count() for model in models}
    counts["events"] = Events.objects.count()
    return counts
