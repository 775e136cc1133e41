"""The admin of possible duplicates: the panel on the Person and canonical patient pages, the queues with
"not the same person", who sees them, and query counts that do not grow with the rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cm_program.duplicates import CANONICAL_PATIENTS
from cm_program.models import CanonicalPatientDuplicatePair
from common.duplicates import scan
from people.duplicates import PERSONS
from people.models import DuplicateStatus, PersonDuplicatePair
from tests.admin_smoke import admin_url, smoke
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db
DOB = dt.date(1977, 7, 7)


def nav_person(first="Ebba", last="Lund", email=None, dob=DOB):
    person = PersonFactory(first_name=first, last_name=last, date_of_birth=dob, phone="", email=email)
    PersonContactTypeFactory(person=person)
    return person


def pairs_of_persons(n: int, start: int = 0):
    for i in range(start, start + n):
        dob = DOB + dt.timedelta(days=40 * i)
        nav_person(f"Ebba{i}", "Lund", f"e{i}@a.org", dob)
        nav_person(f"Ebba{i}", "Lund", f"e{i}@b.org", dob)
    scan(PERSONS, progress=False)


def test_person_page_shows_the_panel_with_the_compare_link(client, crm_supervisor_user):
    one, other = nav_person(email="x@a.org"), nav_person(last="Lundh", email="x@b.org")
    client.force_login(crm_supervisor_user)
    page = client.get(admin_url(type(one), "change", one.pk)).content.decode()
    assert "Possible duplicates" in page and "same DOB" in page and str(other) in page
    assert f"/admin/people/person/merge/?survivor={one.pk}&amp;duplicate={other.pk}" in page
    assert "/admin/people/personduplicatepair/" in page


def test_cm_roles_see_no_person_panel(client, superuser, cm_supervisor_user):
    one = nav_person(email="y@a.org")
    nav_person(email="y@b.org")
    client.force_login(superuser)
    assert "Possible duplicates" in client.get(admin_url(type(one), "change", one.pk)).content.decode()
    client.force_login(cm_supervisor_user)
    assert client.get(admin_url(PersonDuplicatePair, "changelist")).status_code == 403


def test_person_queue_sorted_by_score_and_not_the_same_person(client, crm_supervisor_user):
    best = (nav_person("Alva", "Ek", "a@a.org"), nav_person("Alva", "Ek", "a@b.org"))
    nav_person("Alexandra", "Lindqvist", dob=dt.date(1960, 1, 1))
    nav_person("Alexandra", "Lindquist", dob=dt.date(1960, 1, 1))
    scan(PERSONS, progress=False)
    client.force_login(crm_supervisor_user)
    response = client.get(admin_url(PersonDuplicatePair, "changelist"))
    rows = list(response.context["cl"].result_list)
    assert len(rows) == 2 and rows[0].score > rows[1].score
    assert {rows[0].person_low_id, rows[0].person_high_id} == {p.pk for p in best}
    assert "Compare and merge" in response.content.decode()
    posted = client.post(
        admin_url(PersonDuplicatePair, "changelist"),
        {"action": "mark_not_duplicate", "_selected_action": [rows[0].pk]},
        follow=True,
    )
    assert "1 pair(s) marked as not the same person." in posted.content.decode()
    rows[0].refresh_from_db()
    assert (rows[0].status, rows[0].decided_by) == (DuplicateStatus.NOT_DUPLICATE, crm_supervisor_user)
    smoke(client, rows[1], search="Lindqvist")


def test_person_queue_query_count_holds_at_1_and_many(client, crm_supervisor_user):
    client.force_login(crm_supervisor_user)
    url = admin_url(PersonDuplicatePair, "changelist")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    pairs_of_persons(1)
    few = count()
    pairs_of_persons(12, start=1)
    assert PersonDuplicatePair.objects.count() == 13
    assert count() == few


def test_person_page_query_count_does_not_grow_with_candidates(client, crm_supervisor_user):
    one = nav_person(email="q@a.org")
    nav_person(email="q@b.org")
    client.force_login(crm_supervisor_user)
    url = admin_url(type(one), "change", one.pk)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = count()
    for i in range(8):
        nav_person(email=f"q{i}@c.org")
    assert count() == few


def test_canonical_page_panel_and_queue(client, cm_supervisor_user, crm_supervisor_user, cpss_user):
    one = CanonicalPatientFactory(first_name="Märta", last_name="Nilsson", date_of_birth=DOB)
    other = CanonicalPatientFactory(first_name="Marta", last_name="Nilson", date_of_birth=DOB)
    scan(CANONICAL_PATIENTS, progress=False)
    client.force_login(cm_supervisor_user)
    page = client.get(admin_url(type(one), "change", one.pk)).content.decode()
    assert "Possible duplicates" in page and "same DOB" in page
    assert f"/admin/cm_program/canonicalpatient/merge/?survivor={one.pk}&amp;duplicate={other.pk}" in page
    (pair,) = CanonicalPatientDuplicatePair.objects.all()
    smoke(client, pair, search="Nilsson")
    posted = client.post(
        admin_url(CanonicalPatientDuplicatePair, "changelist"),
        {"action": "mark_not_duplicate", "_selected_action": [pair.pk]},
        follow=True,
    )
    assert posted.status_code == 200
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.NOT_DUPLICATE
    assert "same DOB" not in client.get(admin_url(type(one), "change", one.pk)).content.decode()
    for user in (crm_supervisor_user, cpss_user):
        client.force_login(user)
        assert client.get(admin_url(CanonicalPatientDuplicatePair, "changelist")).status_code == 403
