"""The merge API: POST /persons/merge/, GET /merges/, POST /merges/{id}/undo/, 308 for merged ids, roles;
the same under /cm/ for canonical patients."""

from __future__ import annotations

import pytest

from cm_program.models import CanonicalPatient
from common.merge.models import MergeLog
from people.models import Person
from tests.factories.cm_program import CanonicalPatientFactory, CMEnrollmentFactory, CMPatientFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, assert_error, client_for, written_rows

pytestmark = pytest.mark.django_db


def test_supervisor_merges_lists_and_undoes(crm_supervisor_user):
    sup = client_for(crm_supervisor_user)
    survivor = PersonFactory(phone="+18015550001")
    duplicate = PersonFactory(phone="+18015550002")
    CallHistoryFactory(patient=PatientFactory(person=duplicate))

    response = sup.post(
        f"{API}/persons/merge/",
        {
            "survivor": str(survivor.pk),
            "duplicate": str(duplicate.pk),
            "reason": "same",
            "fields": {"phone": "duplicate"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    log = MergeLog.objects.get()
    assert body["id"] == log.pk and body["survivor_id"] == str(survivor.pk) and body["summary"] == {"patients": 1}
    assert body["actor"] == crm_supervisor_user.username and body["rows_moved"] == 1
    survivor.refresh_from_db()
    assert survivor.phone == "+18015550002"

    listed = sup.get(f"{API}/merges/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [log.pk]

    # The merged id keeps working: 308 to the survivor.
    moved = sup.get(f"{API}/persons/{duplicate.pk}/")
    assert moved.status_code == 308 and moved["Location"] == f"{API}/persons/{survivor.pk}"

    undone = sup.post(f"{API}/merges/{log.pk}/undo/", {"reason": "wrong pair"}, format="json")
    assert undone.status_code == 200, undone.content
    assert undone.json()["undone_at"] and undone.json()["undo_reason"] == "wrong pair"
    assert Person.objects.filter(pk=duplicate.pk).exists()
    assert sup.get(f"{API}/persons/{duplicate.pk}/").status_code == 200
    again = sup.post(f"{API}/merges/{log.pk}/undo/", {}, format="json")
    assert again.status_code == 409


def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(crm_supervisor_user):
    sup = client_for(crm_supervisor_user)
    a, b = PersonFactory(), PersonFactory()
    before = written_rows()
    cases = [
        ({"duplicate": str(b.pk), "reason": "r"}, ("survivor",)),
        ({"survivor": "nope", "duplicate": str(b.pk), "reason": "r"}, ("survivor",)),
        ({"survivor": str(a.pk), "duplicate": str(b.pk)}, ("reason",)),
        ({"survivor": str(a.pk), "duplicate": str(a.pk), "reason": "r"}, ("duplicate",)),
        ({"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r", "fields": {"phone": "both"}}, ("fields",)),
        (
            {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r", "fields": {"height": "duplicate"}},
            ("fields",),
        ),
        ({"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r", "extra": 1}, ("extra",)),
        ({"survivor": str(a.pk), "duplicate": "00000000-0000-0000-0000-000000000000", "reason": "r"}, ("duplicate",)),
    ]
    for body, fields in cases:
        response = sup.post(f"{API}/persons/merge/", body, format="json")
        assert_error(response, 400, "invalid", fields=fields)
    assert written_rows() == before
    assert MergeLog.objects.count() == 0


def test_refused_merge_is_a_409_saying_what_to_do(superuser, crm_supervisor_user):
    a, b = PersonFactory(), PersonFactory()
    CanonicalPatientFactory(person=a)
    CanonicalPatientFactory(person=b)
    # Persons known only through CM are outside a CRM supervisor's scope: not found, naming the fields.
    body = {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r"}
    outside = client_for(crm_supervisor_user).post(f"{API}/persons/merge/", body, format="json")
    assert_error(outside, 400, "invalid", fields=("survivor", "duplicate"))
    response = client_for(superuser).post(
        f"{API}/persons/merge/", {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r"}, format="json"
    )
    assert response.status_code == 409
    assert "canonical patients first" in response.json()["error"]["message"]


def test_roles(navigator_user, cpss_user, cm_supervisor_user):
    a, b = PersonFactory(), PersonFactory()
    body = {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r"}
    for user in (navigator_user, cpss_user, cm_supervisor_user):
        client = client_for(user)
        assert client.post(f"{API}/persons/merge/", body, format="json").status_code == 403
        assert client.get(f"{API}/merges/").status_code == 403
    assert MergeLog.objects.count() == 0


def test_canonical_patient_merge_api(cm_supervisor_user, crm_supervisor_user):
    cm = client_for(cm_supervisor_user)
    survivor, duplicate = CanonicalPatientFactory(), CanonicalPatientFactory()
    CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=duplicate))
    body = {"survivor": str(survivor.pk), "duplicate": str(duplicate.pk), "reason": "typo"}

    assert (
        client_for(crm_supervisor_user).post(f"{API}/cm/canonical-patients/merge/", body, format="json").status_code
        == 403
    )
    response = cm.post(f"{API}/cm/canonical-patients/merge/", body, format="json")
    assert response.status_code == 201, response.content
    log_id = response.json()["id"]
    assert response.json()["summary"] == {"CM patients": 1, "CM enrollments": 1}
    moved = cm.get(f"{API}/cm/canonical-patients/{duplicate.pk}/")
    assert moved.status_code == 308 and moved["Location"] == f"{API}/cm/canonical-patients/{survivor.pk}"
    assert [row["id"] for row in cm.get(f"{API}/cm/merges/").json()["results"]] == [log_id]
    assert cm.get(f"{API}/merges/").status_code == 403  # person merges are the CRM supervisors'
    assert cm.post(f"{API}/cm/merges/{log_id}/undo/", {}, format="json").status_code == 200
    assert CanonicalPatient.objects.filter(pk=duplicate.pk).exists()
