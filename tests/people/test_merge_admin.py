"""The compare-and-merge admin pages (persons, canonical patients) and the merge log with "undo"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cm_program.models import CanonicalPatient
from common.merge.models import MergeLog
from people.models import Person
from tests.factories.cm_program import CanonicalPatientFactory, CMEnrollmentFactory, CMPatientFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

MERGE_URL = "/admin/people/person/merge/"


def test_compare_and_merge_then_undo_from_the_log(client, crm_supervisor_user):
    client.force_login(crm_supervisor_user)
    survivor = PersonFactory(first_name="Ann", last_name="Lee", phone="+18015550001")
    duplicate = PersonFactory(first_name="Ann", last_name="Leigh", phone="+18015550002")
    patient = PatientFactory(person=duplicate)
    CallHistoryFactory(patient=patient)
    CallHistoryFactory(patient=patient)

    page = client.get(MERGE_URL, {"survivor": survivor.pk, "duplicate": duplicate.pk})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="field_last_name"' in html and 'name="field_phone"' in html
    assert 'name="field_first_name"' not in html  # the same on both: no choice to make
    assert "What moves to the survivor: <strong>1 patient" in html

    done = client.post(
        MERGE_URL,
        {"survivor": survivor.pk, "duplicate": duplicate.pk, "field_last_name": "duplicate", "reason": "typo"},
    )

    assert done.status_code == 302 and done["Location"] == reverse("admin:people_person_change", args=[survivor.pk])
    survivor.refresh_from_db()
    assert survivor.last_name == "Leigh" and survivor.phone == "+18015550001"
    log = MergeLog.objects.get()
    assert log.field_choices["last_name"] == "duplicate"

    listing = client.get(reverse("admin:common_mergelog_changelist"))
    assert listing.status_code == 200 and f"/admin/common/mergelog/{log.pk}/undo/" in listing.content.decode()
    undo_url = reverse("admin:common_mergelog_undo", args=[log.pk])
    assert client.get(undo_url).status_code == 200
    undone = client.post(undo_url, {"reason": "two people"})
    assert undone.status_code == 302
    log.refresh_from_db()
    assert log.undone_at is not None
    assert Person.objects.filter(pk=duplicate.pk).exists()


def test_a_refused_merge_shows_why_and_changes_nothing(client, superuser):
    client.force_login(superuser)
    survivor, duplicate = PersonFactory(), PersonFactory()
    CanonicalPatientFactory(person=survivor)
    CanonicalPatientFactory(person=duplicate)
    page = client.post(MERGE_URL, {"survivor": survivor.pk, "duplicate": duplicate.pk, "reason": "r"})
    assert page.status_code == 200
    assert "canonical patients first" in page.content.decode()
    assert MergeLog.objects.count() == 0


def test_who_may_merge(client, navigator_user, cm_supervisor_user):
    a, b = PersonFactory(), PersonFactory()
    for user in (navigator_user, cm_supervisor_user):
        client.force_login(user)
        assert client.get(MERGE_URL, {"survivor": a.pk, "duplicate": b.pk}).status_code == 403
        assert client.post(MERGE_URL, {"survivor": a.pk, "duplicate": b.pk, "reason": "r"}).status_code == 403
    client.force_login(navigator_user)
    assert client.get(reverse("admin:common_mergelog_changelist")).status_code == 403
    assert MergeLog.objects.count() == 0


def test_canonical_patient_compare_and_merge(client, cm_supervisor_user):
    client.force_login(cm_supervisor_user)
    survivor = CanonicalPatientFactory(first_name="Rosa")
    duplicate = CanonicalPatientFactory(first_name="Rosa")
    CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=duplicate))
    url = "/admin/cm_program/canonicalpatient/merge/"
    page = client.get(url, {"survivor": survivor.pk, "duplicate": duplicate.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 CM enrollment, 1 CM patient" in html, html[html.find("merge-preview") : html.find("merge-preview") + 200]
    done = client.post(url, {"survivor": survivor.pk, "duplicate": duplicate.pk, "reason": "typo"})
    assert done.status_code == 302
    assert CanonicalPatient.all_objects.get(pk=duplicate.pk).merged_into_id == survivor.pk
    assert client.get(reverse("admin:common_mergelog_changelist")).status_code == 200


def test_history_page_shows_the_merge_group(client, superuser):
    client.force_login(superuser)
    survivor, duplicate = PersonFactory(), PersonFactory()
    PatientFactory(person=duplicate)
    from people.services import person_merge

    log = person_merge(survivor=survivor, duplicate=duplicate, actor=superuser, reason="r")
    page = client.get(reverse("admin:people_person_history", args=[duplicate.pk]))
    assert page.status_code == 200
    assert f"merge #{log.pk}</a>" in page.content.decode()


def test_merge_request_queue_admin(client, navigator_user, crm_supervisor_user):
    from people.models import PersonMergeRequest

    survivor, duplicate = PersonFactory(), PersonFactory()
    client.force_login(navigator_user)
    added = client.post(
        reverse("admin:people_personmergerequest_add"),
        {"survivor": survivor.pk, "duplicate": duplicate.pk, "reason": "same phone"},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    merge_request = PersonMergeRequest.objects.get()
    assert merge_request.requested_by == navigator_user and merge_request.status == "pending"
    queue = reverse("admin:people_personmergerequest_changelist")
    assert "approve_selected" not in client.get(queue).content.decode()  # navigators do not decide

    client.force_login(crm_supervisor_user)
    page = client.get(queue)
    assert page.status_code == 200 and "Compare and merge" in page.content.decode()
    client.post(queue, {"action": "approve_selected", "_selected_action": [merge_request.pk]})
    merge_request.refresh_from_db()
    assert merge_request.status == "approved" and merge_request.merge_id == MergeLog.objects.get().pk
    assert Person.all_objects.get(pk=duplicate.pk).merged_into_id == survivor.pk
