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
        # A key of ``fields`` is named by its path (common/api/exceptions.py).
        (
            {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r", "fields": {"phone": "both"}},
            ("fields.phone",),
        ),
        (
            {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "r", "fields": {"height": "duplicate"}},
            ("fields",),  # an unknown key: the dictionary itself is wrong
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


def test_merge_log_list_and_changelist_query_counts_do_not_grow(client, crm_supervisor_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n: int) -> None:
        MergeLog.objects.bulk_create(
            MergeLog(
                model="people.person",
                survivor_id=str(PersonFactory.build().pk),
                duplicate_id=str(PersonFactory.build().pk),
                actor=crm_supervisor_user,
                reason="bulk",
                summary={"calls": 3},
            )
            for _ in range(n)
        )

    api = client_for(crm_supervisor_user)
    client.force_login(crm_supervisor_user)

    def measure(rows: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as listed:
            response = api.get(f"{API}/merges/?page_size=50")
        assert response.status_code == 200 and len(response.json()["results"]) == rows
        with CaptureQueriesContext(connection) as page:
            assert client.get("/admin/common/mergelog/").status_code == 200
        return len(listed), len(page)

    api.get(f"{API}/merges/")  # the first request of a token also records its use
    add(1)
    at_one = measure(1)
    add(49)
    assert measure(50) == at_one


def test_navigator_files_a_merge_request_that_a_supervisor_approves(navigator_user, crm_supervisor_user, cpss_user):
    nav, sup = client_for(navigator_user), client_for(crm_supervisor_user)
    survivor, duplicate = PersonFactory(), PersonFactory()
    body = {
        "survivor": str(survivor.pk),
        "duplicate": str(duplicate.pk),
        "reason": "same",
        "fields": {"phone": "duplicate"},
    }

    assert nav.post(f"{API}/persons/merge/", body, format="json").status_code == 403  # navigators do not merge
    filed = nav.post(f"{API}/merge-requests/", body, format="json")
    assert filed.status_code == 201, filed.content
    request_id = filed.json()["id"]
    assert filed.json()["status"] == "pending" and filed.json()["requested_by"] == navigator_user.username
    again = nav.post(f"{API}/merge-requests/", body, format="json")
    assert again.status_code == 409 and again.json()["error"]["existing_id"] == request_id
    assert_error(
        nav.post(f"{API}/merge-requests/", {**body, "reason": ""}, format="json"), 400, "invalid", fields=("reason",)
    )
    assert nav.post(f"{API}/merge-requests/{request_id}/approve/", {}, format="json").status_code == 403
    assert client_for(cpss_user).get(f"{API}/merge-requests/").status_code == 403
    assert MergeLog.objects.count() == 0

    queue = sup.get(f"{API}/merge-requests/")
    assert [row["id"] for row in queue.json()["results"]] == [request_id]
    approved = sup.post(f"{API}/merge-requests/{request_id}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved" and approved.json()["merge"] == MergeLog.objects.get().pk
    survivor.refresh_from_db()
    assert survivor.phone == duplicate.phone
    assert sup.post(f"{API}/merge-requests/{request_id}/reject/", {}, format="json").status_code == 409


def test_a_rejected_request_merges_nothing(navigator_user, crm_supervisor_user):
    a, b = PersonFactory(), PersonFactory()
    filed = client_for(navigator_user).post(
        f"{API}/merge-requests/", {"survivor": str(a.pk), "duplicate": str(b.pk), "reason": "maybe"}, format="json"
    )
    rejected = client_for(crm_supervisor_user).post(
        f"{API}/merge-requests/{filed.json()['id']}/reject/", {"note": "different birthdays"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_note"] == "different birthdays"
    assert MergeLog.objects.count() == 0 and Person.objects.filter(pk=b.pk).exists()


def test_a_merged_persons_patient_redirects_to_the_survivors_patient(crm_supervisor_user):
    from people.services import person_merge

    survivor, duplicate = PersonFactory(), PersonFactory()
    kept, merged = PatientFactory(person=survivor), PatientFactory(person=duplicate)
    person_merge(survivor=survivor, duplicate=duplicate, reason="r")
    sup = client_for(crm_supervisor_user)
    moved = sup.get(f"{API}/patients/{merged.pk}/")
    assert moved.status_code == 308 and moved["Location"] == f"{API}/patients/{kept.pk}"
    assert sup.get(f"{API}/patients/{kept.pk}/").status_code == 200


def test_nested_field_errors_are_named_by_a_dotted_path_in_the_one_error_shape(cm_supervisor_user):
    """A dictionary field's errors (the CM merge's ``fields``) come as ``{"fields.<key>": [messages]}``: the
    schema's ``{field: [strings]}``, never a nested object (schemathesis found one)."""
    survivor, duplicate = CanonicalPatientFactory(), CanonicalPatientFactory()
    before = written_rows()
    body = {
        "survivor": str(survivor.pk),
        "duplicate": str(duplicate.pk),
        "reason": "typo",
        "fields": {"first_name": "neither", "": "x"},
    }
    response = client_for(cm_supervisor_user).post(f"{API}/cm/canonical-patients/merge/", body, format="json")
    error = assert_error(response, 400, "invalid", fields=("fields.first_name", "fields."))
    assert all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in error["fields"].values()
    ), error
    assert error["message"].startswith("fields.")
    assert written_rows() == before
