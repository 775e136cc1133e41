"""The fast ``to_representation`` of the hot read serializers writes exactly what DRF's would."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from patients.api.serializers import (
    CallHistorySerializer,
    PatientLeadSerializer,
    PatientSerializer,
    PhysicianSerializer,
)
from patients.models import CallHistory, Patient, PatientLead, Physician
from tests.factories.patients import CallHistoryFactory, PatientFactory, PatientLeadFactory, PhysicianFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db


def _drf(serializer_class, instance):
    # DRF's own loop, on the same bound fields.
    return serializers.ModelSerializer.to_representation(serializer_class(instance), instance)


@pytest.mark.parametrize(
    ("serializer_class", "model", "make"),
    [
        (
            PatientSerializer,
            Patient,
            lambda: [PatientFactory(), PatientFactory(medical_condition=None, navigator=None)],
        ),
        (
            CallHistorySerializer,
            CallHistory,
            lambda: [CallHistoryFactory(), CallHistoryFactory(is_active=False, deletion_reason="twice")],
        ),
        (PhysicianSerializer, Physician, lambda: [PhysicianFactory(), PhysicianFactory(hospital=None)]),
        (PatientLeadSerializer, PatientLead, lambda: [PatientLeadFactory(person=PersonFactory(email=None))]),
    ],
)
def test_the_same_output_as_drf_with_and_without_related_rows(serializer_class, model, make):
    made = make()
    rows = list(model._default_manager.filter(pk__in=[row.pk for row in made]))
    assert len(rows) == len(made)
    for row in rows:
        fast = serializer_class(row).data
        assert fast == _drf(serializer_class, row), serializer_class
        assert list(fast) == list(_drf(serializer_class, row))  # same keys, same order
    listed = serializer_class(rows, many=True).data
    assert [dict(item) for item in listed] == [_drf(serializer_class, row) for row in rows]


def test_the_plan_is_made_once_per_class_and_calls_this_serializer_s_methods(monkeypatch):
    """The hot serializers share one plan per class (their fields are not built per request); a method field
    is called on the serializer that writes the row, and a serializer whose fields were built on the instance
    (or a class with a ``get_fields`` of its own) plans for itself."""
    from common.api import serializers as common_serializers

    patient = PatientFactory()
    first = PatientSerializer(patient)
    assert first.data == _drf(PatientSerializer, patient)
    assert "fields" not in first.__dict__  # the request's serializer built no fields
    assert common_serializers._SHARED_PLANS[PatientSerializer]

    class Renamed(PatientSerializer):
        def get_navigator_name(self, patient):
            return f"{self.context['prefix']} {patient.pk}"

    assert Renamed(patient, context={"prefix": "a"}).data["navigator_name"] == f"a {patient.pk}"
    assert Renamed(patient, context={"prefix": "b"}).data["navigator_name"] == f"b {patient.pk}"

    class OwnFields(PatientSerializer):
        def get_fields(self):
            fields = super().get_fields()
            fields.pop("status")
            return fields

    assert "status" not in OwnFields(patient).data
    assert common_serializers._SHARED_PLANS[OwnFields] is False
    built = PatientSerializer(patient)
    built.fields.pop("status")
    assert "status" not in built.data
