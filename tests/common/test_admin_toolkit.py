import pytest
from django.db import connection

from common import admin as crm_admin
from common.search import search
from people.models import Person
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db


def test_estimated_count_for_large_unfiltered_tables_exact_when_filtered(monkeypatch):
    PersonFactory.create_batch(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE person")
    monkeypatch.setattr(crm_admin, "ESTIMATE_THRESHOLD", 10)
    # reltuples after ANALYZE is the real size here; what matters is which path is taken.
    unfiltered = crm_admin.EstimatedCountPaginator(Person.all_objects.all(), 10)
    assert unfiltered.count == crm_admin._estimated_rows("person") == 30
    filtered = crm_admin.EstimatedCountPaginator(Person.all_objects.filter(first_name__startswith="Zzz"), 10)
    assert filtered.count == 0
    monkeypatch.setattr(crm_admin, "ESTIMATE_THRESHOLD", 1000)
    assert crm_admin.EstimatedCountPaginator(Person.all_objects.all(), 10).count == 30


def test_a_filtered_list_is_counted_up_to_the_cap_and_says_more_than(monkeypatch, client, superuser):
    PersonFactory.create_batch(7, last_name="Capped")
    monkeypatch.setattr(crm_admin, "COUNT_CAP", 5)
    paginator = crm_admin.EstimatedCountPaginator(Person.all_objects.filter(last_name="Capped"), 2)
    assert (paginator.count, paginator.num_pages, paginator.approximate) == (5, 3, "more than")
    monkeypatch.setattr(crm_admin, "COUNT_CAP", 100)
    exact = crm_admin.EstimatedCountPaginator(Person.all_objects.filter(last_name="Capped"), 2)
    assert (exact.count, exact.approximate) == (7, "")

    # A search counts to its own, lower cap (common.search.SEARCH_COUNT_CAP, 1,000).
    monkeypatch.setattr(crm_admin, "SEARCH_COUNT_CAP", 5)
    client.force_login(superuser)
    response = client.get("/admin/people/person/", {"q": "Capped"})
    assert response.status_code == 200
    assert "more than 5 persons" in " ".join(response.content.decode().split())
    searched = crm_admin.EstimatedCountPaginator(search(Person.all_objects.all(), ("last_name",), "capped"), 2)
    assert (searched.count, searched.approximate) == (5, "more than")


def test_no_changelist_has_a_date_hierarchy():
    """Its MIN/MAX and DISTINCT date_trunc scan the whole table on every view: lists filter by date
    with a list filter instead."""
    from django.contrib import admin

    assert [m for m, a in admin.site._registry.items() if a.date_hierarchy] == []


def test_dashboard_links_are_shown_only_to_allowed_users(client, superuser, navigator_user):
    crm_admin.register_dashboard_link(
        title="Test board", url_name="health", description="only for superusers", allowed=lambda u: u.is_superuser
    )
    try:
        client.force_login(superuser)
        assert "Test board" in client.get("/admin/").content.decode()
        client.force_login(navigator_user)
        assert "Test board" not in client.get("/admin/").content.decode()
    finally:
        crm_admin._DASHBOARD_LINKS[:] = [link for link in crm_admin._DASHBOARD_LINKS if link.title != "Test board"]
