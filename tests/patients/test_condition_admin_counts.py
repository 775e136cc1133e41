"""The medical conditions changelist counts each condition's patients (a subquery per listed row)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from patients.models import MedicalCondition
from tests.factories.patients import PatientFactory

pytestmark = pytest.mark.django_db


def test_each_condition_shows_its_number_of_patients_deleted_ones_included(client, superuser):
    glioma = MedicalCondition.objects.create(name="Glioma Test")
    MedicalCondition.objects.create(name="Unused Test")
    patients = [PatientFactory(medical_condition=glioma) for _ in range(3)]
    patients[0].mark_deleted(reason="test")
    patients[0].save()
    client.force_login(superuser)
    response = client.get(reverse("admin:patients_medicalcondition_changelist"), {"q": "test"})
    assert response.status_code == 200
    counts = {c.name: c._patients for c in response.context["cl"].result_list}
    assert counts == {"Glioma Test": 3, "Unused Test": 0}
