"""A searched page with few matches sorts the matches instead of walking the list's order index
(``common.search.sort_matches``): the same rows in the same order as the list's own ordering, in the admin and
the API, through cursors too; a plan that no index can order; and the order index walk kept past the cap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import CallHistory
from people.models import Person
from tests.admin_smoke import admin_url
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, client_for, results

pytestmark = pytest.mark.django_db


@pytest.fixture
def smiths() -> list[Person]:
    """Persons whose names match "smith" (ties on both names, so the key decides), and some that do not."""
    made = []
    for last, first in [
        ("Smithers", "Waylon"),
        ("Smith", "Anna"),
        ("Goldsmith", "Zoë"),
        ("Smith", "Anna"),
        ("Smith", "Anna"),
        ("Smíth", "Bob"),
        ("Arrowsmith", "Cy"),
        ("Jones", "Smithy"),
    ]:
        person = PersonFactory(last_name=last, first_name=first)
        PersonContactTypeFactory(person=person)
        made.append(person)
    for last in ("Brown", "Taylor", "Zed"):
        PersonContactTypeFactory(person=PersonFactory(last_name=last, first_name="Al"))
    return made


@pytest.fixture(autouse=True)
def short_admin_pages(monkeypatch):
    """Three rows a changelist page, so that a few test rows make several pages (a single page is listed
    without LIMIT, and no paginator)."""
    from patients.admin.calls import CallHistoryAdmin
    from people.admin import PersonAdmin

    monkeypatch.setattr(PersonAdmin, "list_per_page", 3)
    monkeypatch.setattr(CallHistoryAdmin, "list_per_page", 3)


def _in_db_order(pks, *ordering) -> list:
    """``pks`` in the persons list's order as PostgreSQL sorts it (its collation, not Python's)."""
    ordering = ordering or ("last_name", "first_name", "id")
    return list(Person.all_objects.filter(pk__in=pks).order_by(*ordering).values_list("pk", flat=True))


def _admin_pages(client, url: str, term: str) -> list:
    seen, page = [], 1
    while True:
        response = client.get(url, {"q": term, "p": page})
        assert response.status_code == 200
        seen += [row.pk for row in response.context["cl"].result_list]
        if page >= response.context["cl"].paginator.num_pages:
            return seen
        page += 1


def test_admin_and_api_list_the_same_rows_in_the_same_order(smiths, client, superuser):
    expected = _in_db_order([p.pk for p in smiths])
    assert len(expected) == 8
    client.force_login(superuser)
    # The persons changelist orders as the API does (the key last, ascending: person_name_order_idx).
    assert _admin_pages(client, admin_url(Person, "changelist"), "smith") == expected
    api = client_for(superuser)
    body = api.get(f"{API}/persons/", {"search": "SMITH"}).json()
    assert (body["count"], body["count_is"]) == (8, "exact")
    assert [row["id"] for row in body["results"]] == [str(pk) for pk in expected]


def test_cursor_pages_of_a_search_follow_the_same_order(smiths, superuser):
    expected = [str(pk) for pk in _in_db_order([p.pk for p in smiths])]
    api = client_for(superuser)
    seen, url, params = [], f"{API}/persons/", {"search": "smith", "page_size": 3}
    while url:
        response = api.get(url, params)
        assert response.status_code == 200
        seen += [row["id"] for row in response.json()["results"]]
        url, params = response.json()["next"], None
    assert seen == expected


def test_calls_searched_by_patient_keep_the_newest_first_order(superuser, client):
    when = timezone.now() - dt.timedelta(days=3)
    kim = PatientFactory(person=PersonFactory(last_name="Kimura"))
    other = PatientFactory(person=PersonFactory(last_name="Other"))
    calls = [CallHistoryFactory(patient=kim, call_date=when - dt.timedelta(hours=h % 3)) for h in range(7)]
    CallHistoryFactory(patient=other, call_date=when)
    expected = list(
        CallHistory.all_objects.filter(pk__in=[c.pk for c in calls])
        .order_by("-call_date", "-created_at", "id")
        .values_list("pk", flat=True)
    )
    client.force_login(superuser)
    assert _admin_pages(client, admin_url(CallHistory, "changelist"), "kimu") == expected
    rows = results(client_for(superuser).get(f"{API}/call-history/", {"search": "kimura"}))
    assert [row["id"] for row in rows] == [str(pk) for pk in expected]


def _page_sql(captured, table: str) -> str:
    pages = [q["sql"] for q in captured if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]]
    pages = [sql for sql in pages if "LIMIT" in sql and "COUNT(" not in sql.upper()]
    assert len(pages) == 1, pages
    return pages[0]


def _plan_without_sorting(sql: str) -> str:
    """The plan when sorting costs more than anything: an index that gives the ORDER BY is then always taken;
    a Sort left in the plan means no index can give it."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        try:
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_sort")


def _admin_and_api_page_sql(client, superuser, term: str) -> list[str]:
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as admin_queries:
        assert client.get(admin_url(Person, "changelist"), {"q": term, "p": 2}).status_code == 200
    with CaptureQueriesContext(connection) as api_queries:
        assert client_for(superuser).get(f"{API}/persons/", {"search": term}).status_code == 200
    return [_page_sql(admin_queries.captured_queries, "person"), _page_sql(api_queries.captured_queries, "person")]


def test_a_search_with_few_matches_sorts_them_instead_of_walking_the_order_index(smiths, client, superuser):
    for sql in _admin_and_api_page_sql(client, superuser, "smith"):
        plan = _plan_without_sorting(sql)
        assert "person_name_order_idx" not in plan, plan
        assert "Sort" in plan, plan


def test_an_unsearched_list_and_a_search_past_the_cap_keep_the_order_index(smiths, client, superuser, monkeypatch):
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(admin_url(Person, "changelist")).status_code == 200
    assert "person_name_order_idx" in _plan_without_sorting(_page_sql(queries.captured_queries, "person"))
    # Past the count's cap (here 4 rows instead of 1,000) and the estimate's (here 0 instead of 30,000) the
    # matches are many: walking the order index stays.
    monkeypatch.setattr("common.admin.SEARCH_COUNT_CAP", 4)  # more than a page of 3: page 2 exists
    monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 4)
    monkeypatch.setattr("common.search.SORT_MATCHES_MAX_ESTIMATE", 0)
    # The persons list reads its searched pages through person_search (tests/people/test_search_table.py); this
    # is about the path every other list, and the persons list without the table, takes.
    monkeypatch.setattr("people.search_table.ENABLED", False)
    for sql in _admin_and_api_page_sql(client, superuser, "smith"):
        assert "COALESCE" not in sql
        assert "person_name_order_idx" in _plan_without_sorting(sql)


def test_past_the_search_count_cap_a_small_estimate_still_sorts_the_matches(smiths, client, superuser, monkeypatch):
    """Counted only to the cap, the matches may still be few: the planner's estimate decides, and the page
    says its count is not exact ("more than 4" in the admin, the estimate in the API)."""
    monkeypatch.setattr("common.admin.SEARCH_COUNT_CAP", 4)  # more than a page of 3: page 2 exists
    monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 4)
    # Past the cap the persons list reads through person_search (its own tests: tests/people/test_search_table.py,
    # the same rows with and without it); this is the path without the table, and every other list's.
    monkeypatch.setattr("people.search_table.ENABLED", False)
    for sql in _admin_and_api_page_sql(client, superuser, "smith"):
        assert "COALESCE" in sql
        plan = _plan_without_sorting(sql)
        assert "person_name_order_idx" not in plan and "Sort" in plan, plan
    response = client.get(admin_url(Person, "changelist"), {"q": "smith"})
    assert "more than 4 persons" in " ".join(response.content.decode().split())
    assert [row.pk for row in response.context["cl"].result_list] == _in_db_order([p.pk for p in smiths])[:3]
    body = client_for(superuser).get(f"{API}/persons/", {"search": "smith"}).json()
    assert body["count_is"] in ("estimated", "at_least") and body["count"] >= 4
    assert [row["id"] for row in body["results"]] == [str(pk) for pk in _in_db_order([p.pk for p in smiths])]


def test_searched_pages_cost_the_same_queries_at_1_and_50_rows(client, superuser, monkeypatch):
    from people.admin import PersonAdmin

    monkeypatch.setattr(PersonAdmin, "list_per_page", 50)
    client.force_login(superuser)
    api = client_for(superuser)

    def queries(rows: int) -> tuple[int, int]:
        for n in range(Person.objects.filter(last_name__startswith="Smithson").count(), rows):
            PersonContactTypeFactory(person=PersonFactory(last_name=f"Smithson{n:02d}"))
        with CaptureQueriesContext(connection) as admin_queries:
            response = client.get(admin_url(Person, "changelist"), {"q": "smithson"})
        assert response.context["cl"].result_count == rows
        with CaptureQueriesContext(connection) as api_queries:
            assert len(results(api.get(f"{API}/persons/", {"search": "smithson"}))) == rows
        return len(admin_queries), len(api_queries)

    assert queries(1) == queries(50)


# --- Many matches on a list ordered by a searched field: a bounded walk, then the sorted matches ---


def _smith_search(extra_sleep: float | None = None):
    from common.search import search

    queryset = search(Person.objects.all(), ["first_name", "last_name", "email"], "smith").order_by(
        "last_name", "first_name", "id"
    )
    if extra_sleep is not None:
        # Each row the walk tests costs this long: with a 1 ms budget the walk is always cancelled.
        queryset = queryset.extra(where=["pg_sleep(%s) IS NOT NULL"], params=[extra_sleep])
    return queryset


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_walk_past_its_budget_is_cancelled_and_the_sorted_matches_give_the_same_page(smiths, monkeypatch):
    from common.search import fetch_searched_rows, order_follows_search

    monkeypatch.setattr("common.search.WALK_BUDGET_MS", 1)
    queryset = _smith_search(extra_sleep=0.005)
    assert order_follows_search(queryset)
    before = _statement_timeout()
    with CaptureQueriesContext(connection) as queries:
        rows = fetch_searched_rows(queryset, 0, 4)
    assert [row.pk for row in rows] == _in_db_order([p.pk for p in smiths])[:4]
    sql = [q["sql"] for q in queries.captured_queries]
    assert any("'1ms'" in s for s in sql), sql  # the walk ran under the budget ...
    assert any("COALESCE" in s for s in sql), sql  # ... was cancelled, and the matches were sorted
    assert _statement_timeout() == before


def test_a_cancelled_walk_leaves_the_rest_of_the_transaction_alone(smiths, monkeypatch):
    from django.db import transaction

    from common.search import fetch_searched_rows

    monkeypatch.setattr("common.search.WALK_BUDGET_MS", 1)
    with transaction.atomic():
        kept = PersonFactory(last_name="Zzsmith", first_name="Kept")
        rows = fetch_searched_rows(_smith_search(extra_sleep=0.005), 0, 50)
        assert kept.pk in [row.pk for row in rows]
        assert Person.objects.filter(pk=kept.pk).exists()  # the transaction still works
    assert Person.objects.filter(pk=kept.pk).exists()


def test_a_walk_within_its_budget_is_the_page(smiths):
    from common.search import fetch_searched_rows

    with CaptureQueriesContext(connection) as queries:
        rows = fetch_searched_rows(_smith_search(), 1, 5)
    assert [row.pk for row in rows] == _in_db_order([p.pk for p in smiths])[1:5]
    assert not any("COALESCE" in q["sql"] for q in queries.captured_queries)


def test_a_list_whose_order_does_not_follow_its_search_walks_without_a_budget():
    from common.search import fetch_searched_rows, order_follows_search, search

    patient = PatientFactory(person__last_name="Smith")
    for day in range(3):
        CallHistoryFactory(patient=patient, call_date=timezone.now() - dt.timedelta(days=day))
    calls = search(CallHistory.objects.all(), ["patient__person__last_name"], "smith").order_by("-call_date", "id")
    assert not order_follows_search(calls)
    with CaptureQueriesContext(connection) as queries:
        rows = fetch_searched_rows(calls, 0, 2)
    assert [row.pk for row in rows] == list(calls.values_list("pk", flat=True)[:2])
    assert len(queries) == 2  # no budget, no savepoint: the planner's walk for the keys, then their rows


def test_the_api_and_admin_page_past_the_cap_are_the_lists_own_order(smiths, client, superuser, monkeypatch):
    monkeypatch.setattr("common.admin.SEARCH_COUNT_CAP", 6)  # 8 matches: counted as "more than 6"
    monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 6)
    monkeypatch.setattr("common.search.SORT_MATCHES_MAX_ESTIMATE", 0)  # and never guessed few
    expected = _in_db_order([p.pk for p in smiths])
    api = client_for(superuser)
    body = api.get(f"{API}/persons/", {"search": "smith", "page_size": 3}).json()
    assert [row["id"] for row in body["results"]] == [str(pk) for pk in expected[:3]]
    client.force_login(superuser)
    response = client.get(admin_url(Person, "changelist"), {"q": "smith", "p": 2})
    assert [obj.pk for obj in response.context["cl"].result_list] == expected[3:6]


def test_rows_read_by_key_keep_aggregates_that_the_filters_narrow():
    """A searched list whose annotation counts over a join that its own filter narrows keeps that filter
    when its page's rows are read by key (``fetch_by_ids``): the count a user sees is the filtered one."""
    from django.db.models import Count

    from common.search import fetch_by_ids, search

    patient = PatientFactory(person__last_name="Smithfield")
    for day in range(3):
        CallHistoryFactory(patient=patient, call_date=timezone.now() - dt.timedelta(days=day), outcome="reached")
    CallHistoryFactory(patient=patient, call_date=timezone.now() - dt.timedelta(days=9), outcome="voicemail")
    from patients.models import Patient

    listed = (
        search(Patient.objects.filter(calls__outcome="reached"), ["person__last_name"], "smithfield")
        .annotate(reached=Count("calls"))
        .order_by("person__last_name", "pk")
    )
    rows = fetch_by_ids(listed, 0, 10)
    assert [(row.pk, row.reached) for row in rows] == [(patient.pk, 3)]
