"""Keyset cursors, the depth cap and honest counts (issue 10): ``next`` / ``previous`` always carry a signed
``cursor``; following ``next`` lists every row once, in order, whatever is inserted between two pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common import search as search_module
from common.api import pagination
from patients.models import Patient
from people.models import Person
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, assert_error, client_for

pytestmark = pytest.mark.django_db


def _walk(client, url, params=None, *, limit=200):
    """Follow ``next`` from the first page; the rows' ids (or rows) in the order they came, and the pages."""
    body = client.get(url, params or {}).json()
    pages = [body]
    while body["next"] and len(pages) < limit:
        assert "cursor=" in body["next"] and "page=" not in body["next"].split("?")[1].replace("page_size=", "")
        body = client.get(body["next"]).json()
        pages.append(body)
    return [row.get("id", row) for page in pages for row in page["results"]], pages


def _ids_in_list_order(queryset):
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


@pytest.fixture
def admin_api(superuser):
    return client_for(superuser)


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
def test_following_next_lists_every_person_once_in_order(admin_api, page_size):
    # Shared surnames and even whole names: the id breaks the ties.
    for index in range(6):
        PersonFactory(last_name="Smith", first_name="Ann" if index % 2 else "Bo")
    PersonFactory.create_batch(5)
    expected = _ids_in_list_order(Person.objects.order_by("last_name", "first_name", "id"))
    walked, pages = _walk(admin_api, f"{API}/persons/", {"page_size": page_size})
    assert walked == expected
    assert all(page["count"] == 11 and page["count_is"] == "exact" for page in pages)
    assert pages[-1]["next"] is None and pages[0]["previous"] is None


@pytest.mark.parametrize("page_size", [1, 3])
def test_rows_inserted_between_pages_are_neither_repeated_nor_skipped(admin_api, page_size):
    for name in ("Baker", "Cole", "Dunn", "Ellis", "Ford", "Gray"):
        PersonFactory(last_name=name)
    body = admin_api.get(f"{API}/persons/", {"page_size": page_size}).json()
    walked = [row["id"] for row in body["results"]]
    behind, ahead = [], []
    while body["next"]:
        # One row sorts before every page already read (it must not appear), one after (it must).
        if len(behind) < 3:
            behind.append(str(PersonFactory(last_name="Aaron").pk))
            ahead.append(str(PersonFactory(last_name="Zuniga", first_name=f"Z{len(ahead)}").pk))
        body = admin_api.get(body["next"]).json()
        walked += [row["id"] for row in body["results"]]
    assert len(walked) == len(set(walked))
    assert not set(behind) & set(walked)
    everything = _ids_in_list_order(Person.objects.order_by("last_name", "first_name", "id"))
    assert walked == [pk for pk in everything if pk not in behind]
    assert set(ahead) <= set(walked)


def test_previous_walks_back_through_the_same_pages(admin_api):
    PersonFactory.create_batch(7)
    _, pages = _walk(admin_api, f"{API}/persons/", {"page_size": 3})
    assert len(pages) == 3
    back = admin_api.get(pages[-1]["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in pages[1]["results"]]
    first = admin_api.get(back["previous"]).json()
    assert [r["id"] for r in first["results"]] == [r["id"] for r in pages[0]["results"]]
    assert first["previous"] is None and "cursor=" in first["next"]
    # Forward again from a page reached backwards.
    assert [r["id"] for r in admin_api.get(first["next"]).json()["results"]] == [r["id"] for r in pages[1]["results"]]


def test_page_numbers_still_work_and_their_links_carry_cursors(admin_api):
    PersonFactory.create_batch(5)
    expected = _ids_in_list_order(Person.objects.order_by("last_name", "first_name", "id"))
    second = admin_api.get(f"{API}/persons/", {"page_size": 2, "page": 2}).json()
    assert [r["id"] for r in second["results"]] == expected[2:4]
    assert [r["id"] for r in admin_api.get(second["next"]).json()["results"]] == expected[4:]
    assert [r["id"] for r in admin_api.get(second["previous"]).json()["results"]] == expected[:2]
    query = parse_qs(urlsplit(second["next"]).query)
    assert query["page_size"] == ["2"] and "page" not in query and query["cursor"]


@pytest.mark.parametrize("ordering", ["email", "-email", "-created_at", "first_name"])
def test_cursor_follows_the_requested_ordering_with_nulls_and_ties(admin_api, ordering):
    for index in range(4):
        PersonFactory(email=None, first_name="Same")
        PersonFactory(first_name="Same" if index % 2 else "Other")
    field = ordering.lstrip("-")
    walked, _ = _walk(admin_api, f"{API}/persons/", {"page_size": 3, "ordering": ordering})
    by_id = {str(p.pk): p for p in Person.objects.all()}
    assert len(walked) == len(set(walked)) == 8
    # PostgreSQL's order: NULLs last ascending, first descending.
    nulls = [getattr(by_id[pk], field) is None for pk in walked]
    assert nulls == sorted(nulls, reverse=ordering.startswith("-"))
    # Within equal values the id decides, so the walk is exactly the database's order.
    terms = [ordering, "id"]
    assert walked == _ids_in_list_order(Person.objects.order_by(*terms))


def test_cursor_with_filters_and_search_on_patients(admin_api):
    for index in range(9):
        PatientFactory(person=PersonFactory(last_name="Keller" if index % 3 else "Other", first_name=f"K{index % 2}"))
    expected = _ids_in_list_order(
        Patient.objects.filter(person__last_name="Keller").order_by(
            "person__last_name", "person__first_name", "person_id"
        )
    )
    walked, pages = _walk(admin_api, f"{API}/patients/", {"page_size": 2, "search": "kell"})
    assert walked == expected and len(walked) == 6
    assert pages[0]["count"] == 6
    walked, _ = _walk(admin_api, f"{API}/patients/", {"page_size": 2, "search": "kell", "ordering": "-last_name"})
    assert sorted(walked) == sorted(expected) and len(walked) == 6


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJrIjpbXX0", "a" * 300, "%00", ":", "1:2:3", "\u0661"],
)
def test_a_cursor_the_api_did_not_issue_is_400_naming_it(admin_api, cursor):
    PersonFactory.create_batch(2)
    error = assert_error(admin_api.get(f"{API}/persons/", {"cursor": cursor}), 400, "invalid", fields=("cursor",))
    assert set(error["fields"]) == {"cursor"}


def test_an_altered_cursor_or_one_for_another_ordering_is_400(admin_api):
    PersonFactory.create_batch(3)
    next_url = admin_api.get(f"{API}/persons/", {"page_size": 1}).json()["next"]
    token = parse_qs(urlsplit(next_url).query)["cursor"][0]
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert_error(admin_api.get(f"{API}/persons/", {"cursor": altered}), 400, "invalid", fields=("cursor",))
    error = assert_error(
        admin_api.get(f"{API}/persons/", {"cursor": token, "ordering": "-created_at"}),
        400,
        "invalid",
        fields=("cursor",),
    )
    assert "ordering" in error["fields"]["cursor"][0]
    error = assert_error(admin_api.get(f"{API}/persons/", {"cursor": token, "page": 2}), 400, "invalid")
    assert set(error["fields"]) == {"cursor"}
    # A cursor of another list is refused, not misread.
    history = admin_api.get(f"{API}/persons/{Person.objects.first().pk}/history/", {"cursor": token})
    assert_error(history, 400, "invalid", fields=("cursor",))


def test_pages_deeper_than_the_cap_are_400_naming_page(admin_api):
    PersonFactory.create_batch(2)
    for params in ({"page": 201}, {"page": 21, "page_size": 500}, {"page": 10_001, "page_size": 1}):
        error = assert_error(admin_api.get(f"{API}/persons/", params), 400, "invalid", fields=("page",))
        assert "follow `next`" in error["fields"]["page"][0] and "cursor" in error["fields"]["page"][0]
    # At the cap exactly the page is served (here: past the last row, so not found).
    assert_error(admin_api.get(f"{API}/persons/", {"page": 200}), 404, "not_found")


def test_counts_say_whether_they_are_exact(admin_api, monkeypatch):
    PersonFactory.create_batch(5)
    body = admin_api.get(f"{API}/persons/", {"page_size": 2}).json()
    assert (body["count"], body["count_is"]) == (5, "exact")
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    monkeypatch.setattr(pagination.StandardPagination, "_planner_rows", staticmethod(lambda rows: 123_456))
    body = admin_api.get(f"{API}/persons/", {"page_size": 2}).json()
    assert (body["count"], body["count_is"]) == (123_456, "estimated") and len(body["results"]) == 2
    monkeypatch.setattr(pagination.StandardPagination, "_planner_rows", staticmethod(lambda rows: 2))
    body = admin_api.get(f"{API}/persons/", {"page_size": 2}).json()
    assert (body["count"], body["count_is"]) == (3, "at_least")
    # Filtered down below the cap, the count is exact again.
    body = admin_api.get(f"{API}/persons/", {"search": Person.objects.first().email}).json()
    assert (body["count"], body["count_is"]) == (1, "exact")
    # The last page of a list whose size is not known exactly cannot be found by number.
    assert_error(admin_api.get(f"{API}/persons/", {"page": "last"}), 400, "invalid", fields=("page",))


def test_a_search_is_counted_to_a_lower_cap(admin_api, monkeypatch):
    """Matches of a search are joined rows: counted exactly up to ``SEARCH_COUNT_CAP`` (1,000), then estimated;
    the same rows unsearched (filtered) are still counted to ``COUNT_CAP``."""
    for _ in range(3):
        PersonFactory(last_name="Lowcap")
    monkeypatch.setattr(pagination, "SEARCH_COUNT_CAP", 2)
    monkeypatch.setattr(pagination.StandardPagination, "_planner_rows", staticmethod(lambda rows: 40))
    body = admin_api.get(f"{API}/persons/", {"search": "lowcap"}).json()
    assert (body["count"], body["count_is"]) == (40, "estimated") and len(body["results"]) == 3
    monkeypatch.setattr(pagination.StandardPagination, "_planner_rows", staticmethod(lambda rows: 1))
    body = admin_api.get(f"{API}/persons/", {"search": "lowcap"}).json()
    assert (body["count"], body["count_is"]) == (2, "at_least") and len(body["results"]) == 3
    body = admin_api.get(f"{API}/persons/", {"is_active": "true"}).json()
    assert body["count_is"] == "exact" and body["count"] == Person.objects.count() >= 3
    assert pagination.COUNT_CAP == 10_000 and search_module.SEARCH_COUNT_CAP == 1_000


def test_the_planner_estimate_is_a_number():
    PersonFactory.create_batch(3)
    estimate = pagination.StandardPagination._planner_rows(Person.objects.values("pk"))
    assert isinstance(estimate, int) and estimate >= 0


def test_lists_in_memory_page_by_cursor_too(admin_api):
    person = PersonFactory()
    for index in range(4):
        person.first_name = f"Renamed{index}"
        person.save()
    walked, pages = _walk(admin_api, f"{API}/persons/{person.pk}/history/", {"page_size": 2})
    assert len(pages) == 3 and pages[-1]["next"] is None
    full = admin_api.get(f"{API}/persons/{person.pk}/history/", {"page_size": 500}).json()["results"]
    assert [page_row for page in pages for page_row in page["results"]] == full
    assert admin_api.get(pages[1]["previous"]).json()["results"] == pages[0]["results"]


def test_the_patient_count_does_not_join_the_person(admin_api):
    PatientFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        body = admin_api.get(f"{API}/patients/").json()
    assert body["count"] == 3
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "people_person" not in counts[0], counts
