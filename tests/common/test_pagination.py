"""``page`` and ``page_size`` are checked on every list: a value the API cannot use is a 400 naming the
parameter, never silently replaced by the default (50) or the maximum (500)."""

from __future__ import annotations

import pytest

from tests.cm_program.api_support import world
from tests.factories.people import PersonFactory
from tests.navigation_api import API, assert_error, client_for

__all__ = ["world"]

pytestmark = pytest.mark.django_db

# One list of each kind: a plain list, a nested action's list, a CM list, a CM action's list.
LISTS = ["/persons/", "/persons/{person}/history/", "/cm/enrollments/", "/cm/providers/caseloads/"]


@pytest.fixture
def lists(world):
    person = PersonFactory()
    return [API + path.format(person=person.pk) for path in LISTS], world.client("superuser")


@pytest.mark.parametrize(
    "value",
    ["-1", "0", "501", "100000", "abc", "1.5", "1e3", "+5", " -3", "5_0", "\u0661", "99999999999999999999", "%00"],
)
def test_an_unusable_page_size_is_400_naming_it(lists, value):
    urls, client = lists
    for url in urls:
        error = assert_error(client.get(url, {"page_size": value}), 400, "invalid", fields=("page_size",))
        assert set(error["fields"]) == {"page_size"}, (url, error)
        assert error["fields"]["page_size"][0].startswith("Give a whole number from 1 to 500"), error


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.0", "1e2", "\u0662", "9999999999999999"])
def test_an_unusable_page_is_400_naming_it(lists, value):
    urls, client = lists
    for url in urls:
        error = assert_error(client.get(url, {"page": value}), 400, "invalid", fields=("page",))
        assert error["fields"]["page"][0].startswith("Give a whole number of 1 or more"), error


def test_usable_values_still_work(superuser):
    PersonFactory.create_batch(3)
    client = client_for(superuser)
    body = client.get(f"{API}/persons/", {"page_size": "2", "page": "2"}).json()
    assert len(body["results"]) == 1 and body["next"] is None and "page_size=2" in body["previous"]
    assert len(client.get(f"{API}/persons/", {"page_size": "500"}).json()["results"]) == 3
    assert len(client.get(f"{API}/persons/", {"page_size": "", "page": ""}).json()["results"]) == 3  # empty = unset
    assert len(client.get(f"{API}/persons/", {"page": "last", "page_size": "2"}).json()["results"]) == 1
    # A page past the last one is still "not found".
    assert_error(client.get(f"{API}/persons/", {"page": "99"}), 404, "not_found")
