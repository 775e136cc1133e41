"""person_search (people/search_table.py): the narrow table the name-ordered lists take their searched pages from.

The same rows in the same order as the lists' own query (the table switched off) for the persons and patients
lists in the admin and the API, as a superuser and as a navigator (who does not see CM-only persons), with
accents, soft-deleted rows, name ties and several pages; the triggers keep the table equal to person through
every write; the check / repair command; the queries of a page do not grow with its rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import Patient
from people import search_table
from people.merge import person_merge, person_unmerge
from people.models import Person, PersonSearch
from tests.admin_smoke import admin_url
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db

TERMS = ("smith", "Anna Smith", "smith anna", "martine", "MARTÍNEZ", "an", "s", "@example", "ann.sm", "zz", "801 555")


def _agree():
    assert search_table.mismatches() == (0, 0)


@pytest.fixture
def world():
    """Persons with common and accented names, name ties, soft-deleted and CM-only ones; half of them patients."""
    made = []
    names = [
        ("Smith", "Anna"),
        ("Smith", "Anna"),
        ("Smith", "Anna"),
        ("Smíth", "Bob"),
        ("SMITH", "anna"),
        ("Smithers", "Waylon"),
        ("Goldsmith", "Zoë"),
        ("Arrowsmith", "Cy"),
        ("Jones", "Smithy"),
        ("Martínez", "Ana"),
        ("Martinez", "Andrés"),
        ("Martine", "Anne"),
        ("Brown", "Al"),
        ("Ånström", "Sven"),
        ("Zed", "Anna"),
    ]
    for index, (last, first) in enumerate(names * 2):
        email = f"{first.lower()}.{last.lower()}{index}@example.org" if index % 3 else None
        person = PersonFactory(last_name=last, first_name=first, email=email)
        made.append(person)
        if index % 2:
            PatientFactory(person=person)
        if index % 7 == 3:
            # Known only through CM: outside a navigator's scope.
            CanonicalPatientFactory(person=person, first_name=first, last_name=last)
        elif index % 5 == 0:
            PersonContactTypeFactory(person=person)
        if index % 6 == 5:
            person.is_active, person.deleted_at, person.deletion_reason = False, timezone.now(), "Entered twice."
            person.save()
            Patient.all_objects.filter(person=person).update(
                is_active=False, deleted_at=timezone.now(), deletion_reason="Entered twice."
            )
    return made


def _admin_pages(client, url: str, term: str) -> list:
    seen, page = [], 1
    while True:
        response = client.get(url, {"q": term, "p": page})
        assert response.status_code == 200
        seen += [row.pk for row in response.context["cl"].result_list]
        if page >= response.context["cl"].paginator.num_pages:
            # The count too ("more than" when capped).
            return [*seen, (response.context["cl"].result_count, response.context["cl"].paginator.approximate)]
        page += 1


def _api_pages(api, path: str, term: str) -> list:
    seen, url, params = [], f"{API}/{path}/", {"search": term, "page_size": 4}
    while url:
        response = api.get(url, params)
        assert response.status_code == 200
        if not seen:
            seen.append((response.json()["count"], response.json()["count_is"]))
        seen += [row["id"] for row in response.json()["results"]]
        url, params = response.json()["next"], None
    return seen


def _both_ways(monkeypatch, read):
    """``read()`` through person_search, then the other way; both with the table's queries counted."""
    with CaptureQueriesContext(connection) as on:
        through_table = read()
    monkeypatch.setattr(search_table, "ENABLED", False)
    with CaptureQueriesContext(connection) as off:
        other_way = read()
    monkeypatch.setattr(search_table, "ENABLED", True)
    used = any("person_search" in q["sql"] for q in on.captured_queries)
    assert not any("person_search" in q["sql"] for q in off.captured_queries)
    return through_table, other_way, used


@pytest.fixture(params=["counted", "past the count's cap"])
def small_batches(request, monkeypatch):
    """Pages of 4 rows, batches of candidates barely larger, walks of 3 rows: every branch of page_rows runs.
    Counted matches are sorted at once; past the count's cap (here 5: more than a page) they are walked first."""
    from patients.admin.patient import PatientAdmin
    from people.admin import PersonAdmin

    if request.param != "counted":
        monkeypatch.setattr("common.admin.SEARCH_COUNT_CAP", 5)
        monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 5)

    monkeypatch.setattr(PersonAdmin, "list_per_page", 4)
    monkeypatch.setattr(PatientAdmin, "list_per_page", 4)
    monkeypatch.setattr(search_table, "FIRST_BATCH_EXTRA", 0)
    monkeypatch.setattr(search_table, "WALK_ROWS", 3)
    return "counted" if request.param == "counted" else "capped"


@pytest.mark.parametrize("role", ["superuser", "navigator"])
def test_the_admin_lists_give_the_same_rows_in_the_same_order(
    world, client, superuser, navigator_user, role, small_batches, monkeypatch
):
    user = superuser if role == "superuser" else navigator_user
    client.force_login(user)
    for model in (Person, Patient):
        url = admin_url(model, "changelist")
        for term in TERMS:
            got, expected, used = _both_ways(monkeypatch, lambda url=url, term=term: _admin_pages(client, url, term))
            assert got == expected, (model.__name__, term)
            # Past the count's cap only; a list that fits one page is read without the paginator (Django's
            # ChangeList); a phone word the other way.
            if small_batches == "counted" or term == "801 555":
                assert not used, (model.__name__, term)
            elif term in ("smith", "an"):
                assert used, (model.__name__, term)
    # Some of them are outside the navigator's scope, and soft-deleted ones outside the API's.
    if role == "navigator":
        cm_only = {p.pk for i, p in enumerate(world) if i % 7 == 3}
        assert not cm_only & set(_admin_pages(client, admin_url(Person, "changelist"), "smith"))


@pytest.mark.parametrize("role", ["superuser", "navigator"])
def test_the_api_lists_give_the_same_rows_in_the_same_order(
    world, superuser, navigator_user, role, small_batches, monkeypatch
):
    api = client_for(superuser if role == "superuser" else navigator_user)
    for path in ("persons", "patients"):
        for term in TERMS:
            got, expected, used = _both_ways(monkeypatch, lambda path=path, term=term: _api_pages(api, path, term))
            assert got == expected, (path, term)
            if small_batches == "counted" or term in ("801 555", "zz"):
                assert not used, (path, term)  # counted matches (or a phone word) are sorted where they are
            elif term in ("smith", "an"):
                assert used, (path, term)
    assert len(_api_pages(api, "persons", "smith")) > 1  # not vacuous


def test_full_size_batches_too(world, superuser, monkeypatch):
    monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 1)
    api = client_for(superuser)
    for path in ("persons", "patients"):
        for term in ("smith", "an", "martinez"):
            got, expected, used = _both_ways(monkeypatch, lambda path=path, term=term: _api_pages(api, path, term))
            assert used and got == expected and got, (path, term)


def test_other_orders_and_deep_pages_read_the_other_way(world, superuser, monkeypatch):
    monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", 1)
    api = client_for(superuser)
    for params in ({"ordering": "-last_name"}, {"ordering": "created_at"}):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"{API}/persons/", {"search": "smith", **params}).status_code == 200
        assert not any("person_search" in q["sql"] for q in queries.captured_queries), params
    monkeypatch.setattr(search_table, "MAX_STOP", 3)
    got, expected, used = _both_ways(monkeypatch, lambda: _api_pages(api, "persons", "smith"))
    assert got == expected and not used
    # A list that would need more candidates than MAX_CANDIDATES gives up after its first batch.
    monkeypatch.setattr(search_table, "MAX_STOP", 1_000)
    monkeypatch.setattr(search_table, "MAX_CANDIDATES", 1)
    monkeypatch.setattr(search_table, "FIRST_BATCH_EXTRA", 0)
    got, expected, used = _both_ways(monkeypatch, lambda: _api_pages(api, "patients", "an"))
    assert got == expected and used


def test_a_page_costs_the_same_queries_for_1_and_50_rows(superuser, client, monkeypatch):
    from people.admin import PersonAdmin

    client.force_login(superuser)
    api = client_for(superuser)

    def queries(term: str, per_page: int) -> tuple[int, int]:
        # Past the count's cap (the table is read only then), and more than a page counted.
        monkeypatch.setattr(PersonAdmin, "list_per_page", per_page)
        monkeypatch.setattr("common.admin.SEARCH_COUNT_CAP", per_page + 1)
        monkeypatch.setattr("common.api.pagination.SEARCH_COUNT_CAP", per_page + 1)
        with CaptureQueriesContext(connection) as admin_queries:
            response = client.get(admin_url(Person, "changelist"), {"q": term})
        assert len(response.context["cl"].result_list) == per_page  # page 1 of 2
        with CaptureQueriesContext(connection) as api_queries:
            body = api.get(f"{API}/persons/", {"search": term, "page_size": per_page}).json()
        assert len(body["results"]) == per_page
        assert any("person_search" in q["sql"] for q in admin_queries.captured_queries)
        assert any("person_search" in q["sql"] for q in api_queries.captured_queries)
        return len(admin_queries), len(api_queries)

    for _ in range(3):
        PersonFactory(last_name="Fewrows", first_name="Uma")
    for _ in range(100):
        PersonFactory(last_name="Manyrows", first_name="Max")
    assert queries("fewrows", 1) == queries("manyrows", 50)


def test_the_triggers_keep_the_table_equal_to_person(crm_supervisor_user):
    people = [PersonFactory(first_name="Ann", last_name="Smyth", email=f"ann{i}@example.org") for i in range(3)]
    _agree()
    people[0].last_name = "Müller"
    people[0].save()
    assert PersonSearch.objects.get(pk=people[0].pk).last_name_key == "muller"
    Person.all_objects.filter(pk__in=[p.pk for p in people[1:]]).update(first_name="Zoë", email=None)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE person SET last_name = 'Ñandú' WHERE id = %s", [people[2].pk])
    _agree()
    # A soft delete keeps the row (the lists' own filters decide who sees it); a delete removes it.
    people[1].is_active, people[1].deleted_at, people[1].deletion_reason = False, timezone.now(), "Twice."
    people[1].save()
    _agree()
    survivor = PersonFactory(first_name="Bea", last_name="Smyth", email="bea@example.org")
    duplicate = PersonFactory(first_name="Bea", last_name="Smíth", email="bea.smith@example.org")
    log = person_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"last_name": "duplicate"},
        actor=crm_supervisor_user,
        reason="one human",
    )
    assert PersonSearch.objects.get(pk=survivor.pk).last_name == "Smíth"
    person_unmerge(merge=log, actor=crm_supervisor_user, reason="two humans after all")
    assert PersonSearch.objects.get(pk=survivor.pk).last_name == "Smyth"
    _agree()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM person WHERE id = %s", [people[2].pk])
    assert not PersonSearch.objects.filter(pk=people[2].pk).exists()
    _agree()
    Person.objects.bulk_create([Person(first_name="Cy", last_name="Bulk", date_of_birth=dt.date(1990, 1, 1))])
    _agree()
    assert PersonSearch.objects.count() == Person.all_objects.count() == 5


def test_truncate_empties_the_table(transactional_db):
    import pgtrigger

    from tests.db import truncate_trigger_uris

    PersonFactory()
    with pgtrigger.ignore(*truncate_trigger_uris()), connection.cursor() as cursor:
        cursor.execute("TRUNCATE person CASCADE")
    assert not PersonSearch.objects.exists()


def test_the_command_finds_and_repairs_a_table_that_disagrees(capsys):
    people = [PersonFactory(last_name=f"Zz{i}") for i in range(3)]
    call_command("person_search")
    assert "agrees" in capsys.readouterr().out
    with connection.cursor() as cursor:
        cursor.execute("UPDATE person_search SET last_name = 'Stale' WHERE person_id = %s", [people[0].pk])
        cursor.execute("DELETE FROM person_search WHERE person_id = %s", [people[1].pk])
    with pytest.raises(CommandError, match="--repair"):
        call_command("person_search")
    assert "1 rows stored that person does not have, 2 rows of person missing or different" in capsys.readouterr().out
    call_command("person_search", "--repair")
    assert "Rebuilt person_search: 3 rows" in capsys.readouterr().out
    _agree()
    # The rebuild keeps the indexes the search reads.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'person_search'")
        assert cursor.fetchone()[0] == len(search_table.INDEXES) + 1


def test_the_search_reads_the_table_s_indexes(superuser, monkeypatch):
    for i in range(30):
        PersonFactory(last_name="Smith" if i % 3 else "Jones")
    candidates = search_table._Candidates(search_table.eligible(_searched("smith"))[1], "default")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as queries:
            candidates.next(5)
        sql = queries.captured_queries[-1]["sql"]
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "person_search_order_idx" in plan and "person_search_last_name_trgm" in plan


def _searched(term: str):
    from common.search import search

    return search(Person.objects.order_by("last_name", "first_name", "id"), ("last_name", "first_name", "email"), term)
