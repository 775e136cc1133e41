"""The physicians list (admin and API) is built from the physicians, their Persons fetched by key
(``patients.selectors.physicians_list``): the same rows in the Person-name order, and the filter that keeps
PostgreSQL from reading the persons table to find the few persons who are physicians (docs/PERFORMANCE.md,
"Search", Round 2)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Physician
from tests.admin_smoke import admin_url
from tests.factories.patients import PhysicianFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, client_for, results

pytestmark = pytest.mark.django_db


@pytest.fixture
def physicians() -> list[Physician]:
    names = [("Young", "Ann"), ("Abbott", "Zed"), ("Abbott", "Amy"), ("Múller", "Bea")]
    made = [PhysicianFactory(person=PersonFactory(last_name=last, first_name=first)) for last, first in names]
    PersonFactory.create_batch(5)  # persons who are not physicians are not listed
    return made


def _in_name_order(physicians: list[Physician]) -> list:
    ids = [p.pk for p in physicians]
    return list(
        Physician.all_objects.filter(pk__in=ids)
        .order_by("person__last_name", "person__first_name", "person_id")
        .values_list("pk", flat=True)
    )


def test_admin_and_api_list_every_physician_in_name_order(physicians, client, superuser):
    expected = _in_name_order(physicians)
    client.force_login(superuser)
    response = client.get(admin_url(Physician, "changelist"))
    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == expected
    assert response.context["cl"].result_count == 4
    rows = results(client_for(superuser).get(f"{API}/physicians/"))
    assert [row["id"] for row in rows] == [str(pk) for pk in expected]
    rows = results(client_for(superuser).get(f"{API}/physicians/", {"search": "abbott"}))
    assert [row["id"] for row in rows] == [str(pk) for pk in expected[:2]]


def test_the_list_fetches_persons_by_key(physicians, client, superuser):
    """The filter that makes the planner start from the physicians (a few test rows cannot show the plan
    that 200,000 persons give: the figures are in docs/PERFORMANCE.md)."""
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(admin_url(Physician, "changelist")).status_code == 200
    page = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "physician"."id"')]
    assert len(page) == 1 and '"physician"."person_id" = ANY(ARRAY(SELECT' in page[0], page
