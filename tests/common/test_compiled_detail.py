"""A patient's detail runs SQL compiled once per shape (common.api.compiled): the same answer as Django's
``get()``, one shape per "sees deleted patients or not", and a query count that stays that of a plain read."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Value
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from common.api.compiled import compiled_get
from patients.api.serializers import PatientSerializer
from patients.models import Patient
from patients.services import patient_soft_delete
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db


def _json(data) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _plain(pk) -> Patient:
    return Patient.all_objects.select_related("person", "medical_condition", "navigator").get(pk=pk)


def test_the_compiled_read_gives_the_objects_django_s_get_gives():
    patient = PatientFactory(person=PersonFactory(first_name="Zoë", last_name="Ågren"))
    queryset = Patient.all_objects.select_related("person", "medical_condition", "navigator").order_by("person_id")
    for _ in range(2):  # compiled the first time, reused the second
        with CaptureQueriesContext(connection) as captured:
            found = compiled_get(("test", "patient"), lambda: queryset, str(patient.pk), using="default")
            body = PatientSerializer(found).data  # the joined rows are in hand: no query
        assert len(captured) == 1
        assert body == PatientSerializer(_plain(patient.pk)).data
        assert found.person.first_name == "Zoë" and found.navigator_id == patient.navigator_id
        assert not found._state.adding and found._state.db == "default"
    with pytest.raises(Http404):
        compiled_get(("test", "patient"), lambda: queryset, str(uuid.uuid4()), using="default")
    with pytest.raises(Http404):
        compiled_get(("test", "patient"), lambda: queryset, "not-a-uuid", using="default")


def test_a_queryset_with_annotations_is_refused():
    queryset = Patient.all_objects.annotate(x=Value(1))
    with pytest.raises(ValueError):
        compiled_get(("test", "annotated"), lambda: queryset, str(uuid.uuid4()), using="default")


def test_deleted_patients_stay_hidden_from_who_may_not_restore_them_whatever_was_compiled_first(
    superuser, navigator_user
):
    patient = PatientFactory()
    patient_soft_delete(patient=patient, reason="made in error")
    url = f"{API}/patients/{patient.pk}/"
    for _ in range(2):
        response = client_for(superuser).get(url)
        assert response.status_code == 200 and response.json()["is_active"] is False
        assert client_for(navigator_user).get(url).status_code == 404
    live = PatientFactory()
    answer = client_for(navigator_user).get(f"{API}/patients/{live.pk}/")
    assert answer.status_code == 200 and answer.json() == _json(PatientSerializer(_plain(live.pk)).data)
