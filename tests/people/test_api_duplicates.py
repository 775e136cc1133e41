"""The duplicates endpoints of persons and canonical patients: candidates, "not the same person", role rules,
4xx inputs that change nothing, and query counts that do not grow with the candidates."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cm_program.models import CanonicalPatientDuplicatePair
from people.models import PersonDuplicatePair
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for

pytestmark = pytest.mark.django_db
DOB = dt.date(1981, 2, 3)


def nav_person(first="Karl", last="Lind", email=None, **extra):
    person = PersonFactory(first_name=first, last_name=last, date_of_birth=DOB, phone="", email=email, **extra)
    PersonContactTypeFactory(person=person)
    return person


@pytest.fixture
def pair():
    return nav_person(email="karl@a.org"), nav_person(last="Lindh", email="karl@b.org")


def test_candidates_of_a_person(navigator_user, pair):
    one, other = pair
    response = client_for(navigator_user).get(f"{API}/persons/{one.pk}/duplicates/")
    assert response.status_code == 200, response.content
    (row,) = response.json()
    assert row["id"] == str(other.pk) and (row["first_name"], row["last_name"]) == ("Karl", "Lindh")
    assert row["date_of_birth"] == "1981-02-03"
    assert row["reasons"][0] == "same DOB" and row["reasons"][2] == "same email name, other domain"
    assert 0.6 <= float(row["score"]) <= 1


def test_not_duplicate_then_never_listed(crm_supervisor_user, pair):
    one, other = pair
    client = client_for(crm_supervisor_user)
    response = client.post(f"{API}/persons/{one.pk}/not-duplicate/", {"other": str(other.pk)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "not_duplicate" and body["decided_by"] == str(crm_supervisor_user.pk)
    assert {body["low"], body["high"]} == {str(one.pk), str(other.pk)} and body["low"] < body["high"]
    assert client.get(f"{API}/persons/{one.pk}/duplicates/").json() == []
    assert client.get(f"{API}/persons/{other.pk}/duplicates/").json() == []
    again = client.post(f"{API}/persons/{other.pk}/not-duplicate/", {"other": str(one.pk)}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert PersonDuplicatePair.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [{}, {"other": 12}, {"other": "abc"}, {"other": None}, "self", "unknown", "cm_only", "deleted"],
    ids=["missing", "int", "text", "null", "itself", "unknown", "out-of-scope", "deleted"],
)
def test_not_duplicate_bad_other_is_a_400_naming_it(navigator_user, pair, payload):
    one, _ = pair
    if payload == "self":
        payload = {"other": str(one.pk)}
    elif payload == "unknown":
        payload = {"other": str(uuid.uuid4())}
    elif payload == "cm_only":
        hidden = PersonFactory(first_name="Karl", last_name="Lind", date_of_birth=DOB, email="k@cm.org")
        CanonicalPatientFactory(person=hidden, first_name="Karl", last_name="Lind", date_of_birth=DOB)
        payload = {"other": str(hidden.pk)}
    elif payload == "deleted":
        gone = nav_person(email="gone@x.org", is_active=False, deletion_reason="Twice.")
        payload = {"other": str(gone.pk)}
    response = client_for(navigator_user).post(f"{API}/persons/{one.pk}/not-duplicate/", payload, format="json")
    assert_error(response, 400, "invalid", fields=("other",))
    assert not PersonDuplicatePair.objects.exists()


@pytest.mark.parametrize("role", ["cpss", "cm_supervisor"])
def test_cm_roles_get_no_person_duplicates(request, role, pair):
    one, other = pair
    user = request.getfixturevalue(f"{role}_user")
    client = client_for(user)
    assert client.get(f"{API}/persons/{one.pk}/duplicates/").status_code in (403, 404)
    posted = client.post(f"{API}/persons/{one.pk}/not-duplicate/", {"other": str(other.pk)}, format="json")
    assert posted.status_code in (403, 404)
    assert not PersonDuplicatePair.objects.exists()


def test_person_duplicates_query_count_does_not_grow(navigator_user):
    one = nav_person(email="q@a.org")
    nav_person(email="q@b.org")
    client = client_for(navigator_user)

    def get():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}/persons/{one.pk}/duplicates/")
        return len(response.json()), len(queries)

    client.get(f"{API}/persons/{one.pk}/duplicates/")  # the login's groups and permissions, read once
    few = get()
    for i in range(10):
        nav_person(email=f"q{i}@c.org")
    many = get()
    assert (few[0], many[0]) == (1, 11)
    assert few[1] == many[1]


# ---------------------------------------------------------------------------------------------------
# Canonical patients


@pytest.fixture
def canonical_pair():
    return (
        CanonicalPatientFactory(first_name="Maja", last_name="Sörensen", date_of_birth=DOB),
        CanonicalPatientFactory(first_name="Maja", last_name="Sorensen", date_of_birth=dt.date(1981, 3, 2)),
    )


def test_canonical_candidates_and_not_duplicate(cm_supervisor_user, canonical_pair):
    one, other = canonical_pair
    client = client_for(cm_supervisor_user)
    response = client.get(f"{API}/cm/canonical-patients/{one.pk}/duplicates/")
    assert response.status_code == 200, response.content
    (row,) = response.json()
    assert row["id"] == str(other.pk) and row["reasons"] == ["DOB day/month swapped", "name 1.00"]
    assert row["score"] == "0.75"
    bad = client.post(f"{API}/cm/canonical-patients/{one.pk}/not-duplicate/", {"other": str(one.pk)}, format="json")
    assert bad.status_code == 400 and "other" in bad.json()["error"]["fields"]
    missing = client.post(f"{API}/cm/canonical-patients/{one.pk}/not-duplicate/", {}, format="json")
    assert missing.status_code == 400 and "other" in missing.json()["error"]["fields"]
    unknown = client.post(
        f"{API}/cm/canonical-patients/{one.pk}/not-duplicate/", {"other": str(uuid.uuid4())}, format="json"
    )
    assert unknown.status_code == 400 and "other" in unknown.json()["error"]["fields"]
    assert not CanonicalPatientDuplicatePair.objects.exists()
    ok = client.post(f"{API}/cm/canonical-patients/{one.pk}/not-duplicate/", {"other": str(other.pk)}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "not_duplicate"
    assert client.get(f"{API}/cm/canonical-patients/{one.pk}/duplicates/").json() == []


@pytest.mark.parametrize("role", ["cpss", "navigator", "crm_supervisor"])
def test_other_roles_get_no_canonical_duplicates(request, role, canonical_pair):
    one, other = canonical_pair
    client = client_for(request.getfixturevalue(f"{role}_user"))
    assert client.get(f"{API}/cm/canonical-patients/{one.pk}/duplicates/").status_code in (403, 404)
    posted = client.post(
        f"{API}/cm/canonical-patients/{one.pk}/not-duplicate/", {"other": str(other.pk)}, format="json"
    )
    assert posted.status_code in (403, 404)
    assert not CanonicalPatientDuplicatePair.objects.exists()
