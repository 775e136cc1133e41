"""The OpenAPI schema stays clean, shows each patient-navigation path once (slashed), and the browsable
API renders every page for a session login."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    SpecializationFactory,
    seeded_condition,
)
from tests.navigation_api import API

NAVIGATION_RESOURCES = (
    "persons",
    "contact-types",
    "patients",
    "call-history",
    "medical-conditions",
    "leads",
    "physicians",
    "hospitals",
    "specializations",
    "ct-journeys",
    "eap-journeys",
)


@pytest.mark.django_db
def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    navigation = [p for p in paths if p.split("/")[3] in NAVIGATION_RESOURCES]
    assert all(p.endswith("/") for p in navigation), [p for p in navigation if not p.endswith("/")]
    assert {p.split("/")[3] for p in navigation} == set(NAVIGATION_RESOURCES)
    patients = paths["/api/v1/patients/"]
    assert set(patients) == {"get", "post"}
    assert {"201", "400", "401", "403", "409", "415"} <= set(patients["post"]["responses"])
    list_parameters = {p["name"] for p in patients["get"]["parameters"]}
    assert {
        "status",
        "medical_condition",
        "navigator",
        "email",
        "created_after",
        "created_before",
        "follow_up_due",
        "search",
        "ordering",
        "page",
        "page_size",
    } <= list_parameters
    assert set(paths["/api/v1/call-history/{id}/"]) == {"get", "put", "patch", "delete"}
    assert "post" in paths["/api/v1/ct-journeys/{id}/transition/"]


@pytest.mark.django_db
def test_the_browsable_api_renders_every_page(client, superuser):
    patient = PatientFactory()
    objects = {
        "persons": patient.person,
        "patients": patient,
        "call-history": CallHistoryFactory(patient=patient),
        "medical-conditions": seeded_condition(),
        "leads": PatientLeadFactory(),
        "physicians": PhysicianFactory(),
        "hospitals": HospitalFactory(),
        "specializations": SpecializationFactory(),
        "ct-journeys": ClinicalTrialJourneyFactory(patient=patient),
        "eap-journeys": EAPJourneyFactory(patient=patient),
    }
    client.force_login(superuser)
    pages = [f"{API}/{resource}/" for resource in NAVIGATION_RESOURCES]
    pages += [f"{API}/{resource}/{obj.pk}/" for resource, obj in objects.items()]
    pages += [
        f"{API}/patients/{patient.pk}/calls/",
        f"{API}/persons/{patient.person_id}/roles/",
        f"{API}/persons/{patient.person_id}/history/",
        f"{API}/ct-journeys/{objects['ct-journeys'].pk}/timeline/",
    ]
    for page in pages:
        response = client.get(page, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, (page, response.content[:500])
        assert response["Content-Type"].startswith("text/html"), page
