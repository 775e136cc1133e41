"""The audit events admin (common.admin_events): one event table read directly, keyset pages, diffs for
the page's update events only, a capped count; pghistory's own list for one record's trail."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common import admin_events
from people.models import Person
from tests.conftest import make_user
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

URL = "/admin/pghistory/events/"


def _event_ids(table: str, label: str | None = None) -> list[int]:
    with connection.cursor() as cursor:
        where = "WHERE pgh_label = %s" if label else ""
        cursor.execute(f"SELECT pgh_id FROM {table} {where} ORDER BY pgh_id DESC", [label] if label else [])
        return [row[0] for row in cursor.fetchall()]


def _rows(response):
    return [(row.event_model, row.pgh_id) for row in response.context["rows"]]


def test_one_event_model_newest_first_with_the_update_diff(client, superuser):
    person = PersonFactory(first_name="Ada", last_name="Before")
    Person.all_objects.filter(pk=person.pk).update(last_name="After")
    client.force_login(superuser)

    response = client.get(URL, {"event_model": "people.personevent"})

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.pgh_id for r in rows] == _event_ids("people_personevent")[:50]
    update = next(r for r in rows if r.object_id == str(person.pk) and r.label == "update")
    assert update.changes["last_name"] == ["Before", "After"]
    assert update.who is None  # a QuerySet.update() outside a request names no user
    insert = next(r for r in rows if r.object_id == str(person.pk) and r.label == "insert")
    assert insert.changes == {}
    body = response.content.decode()
    assert "<strong>last_name</strong>: Before &rarr; After" in body
    assert f'href="/admin/people/person/{person.pk}/change/"' in body
    assert {r.event_model for r in rows} == {"people.personevent"}


def test_a_label_across_every_event_table(client, superuser):
    people = PersonFactory.create_batch(3)
    Person.all_objects.filter(pk__in=[p.pk for p in people]).update(last_name="Renamed")
    client.force_login(superuser)

    response = client.get(URL, {"label": "update"})

    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows and {r.label for r in rows} == {"update"}
    assert {r.object_id for r in rows if r.event_model == "people.personevent"} >= {str(p.pk) for p in people}
    assert response.context["count_how"] == "exact"
    assert response.context["count"] == sum(
        len(_event_ids(m._meta.db_table, "update")) for m in admin_events.event_models().values()
    )
    assert all(a.at >= b.at for a, b in zip(rows, rows[1:], strict=False))


def test_following_older_links_walks_every_event_once(client, superuser, monkeypatch):
    PersonFactory.create_batch(4)
    Person.all_objects.update(first_name="Walked")  # an update event per person, in another table than users'
    monkeypatch.setattr(admin_events, "PAGE_SIZE", 3)
    client.force_login(superuser)

    seen, url, pages = [], f"{URL}?label=update", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen.extend(_rows(response))
        url = response.context["next_url"] and URL + response.context["next_url"]
        pages += 1
    expected = {
        (label, pgh_id)
        for label, model in admin_events.event_models().items()
        for pgh_id in _event_ids(model._meta.db_table, "update")
    }
    assert len(seen) == len(set(seen)) == len(expected) >= 4
    assert set(seen) == expected
    assert pages == -(-len(expected) // 3)


def test_the_query_count_does_not_grow_with_the_events(client, superuser):
    client.force_login(superuser)
    PersonFactory()
    client.get(URL, {"event_model": "people.personevent"})  # warm the session and the content types
    with CaptureQueriesContext(connection) as one:
        assert client.get(URL, {"event_model": "people.personevent"}).status_code == 200
    people = PersonFactory.create_batch(60)
    Person.all_objects.filter(pk__in=[p.pk for p in people]).update(last_name="Many")
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL, {"event_model": "people.personevent"})
    assert len(response.context["rows"]) == 50
    assert len(many.captured_queries) == len(one.captured_queries)
    # one query reads the page (rows, contexts and the updates' previous events), one counts, none unions
    # every event table through pghistory's CTE
    assert not [q["sql"] for q in many.captured_queries if "pghistory_events" in q["sql"]]


def test_the_unfiltered_list_reads_each_table_once_and_estimates_the_count(client, superuser):
    PersonFactory(last_name="Audited")
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL)
    assert response.status_code == 200
    assert response.context["count_how"] == "about"
    event_queries = [q["sql"] for q in captured.captured_queries if "pgh_" in q["sql"]]
    assert len(event_queries) == 1  # the page: one UNION ALL of each table's next 51 events
    assert "pghistory_events" not in event_queries[0]


@pytest.mark.parametrize(
    "params, name",
    [
        ({"event_model": "people.nothing"}, "event_model"),
        ({"label": "insertt"}, "label"),
        ({"model": "people.Nothing"}, "model"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "cGVvcGxlLm5vdGhpbmc6MQ"}, "cursor"),  # people.nothing:1
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(client, superuser, params, name):
    client.force_login(superuser)
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"{name}: ")


def test_the_tracked_model_filter_and_one_records_trail(client, superuser):
    person = PersonFactory(last_name="Traced")
    client.force_login(superuser)

    by_model = client.get(URL, {"model": "people.Person", "back": "/admin/people/person/"})
    assert by_model.status_code == 200
    assert {r.event_model for r in by_model.context["rows"]} == {"people.personevent"}
    assert 'href="/admin/people/person/" class="back"' in by_model.content.decode()

    trail = client.get(URL, {"obj": f"people.Person:{person.pk}", "method": "tracks"})
    assert trail.status_code == 200  # pghistory's own list, for one object
    assert [e.pgh_obj_id for e in trail.context["cl"].result_list] == [str(person.pk)]


def test_staff_without_the_view_permission_are_refused(client):
    staff = make_user("plainstaff")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get(URL, {"label": "insert"}).status_code == 403


def test_the_filter_sidebar_links_each_label_and_model(client, superuser):
    client.force_login(superuser)
    body = client.get(URL).content.decode()
    assert re.search(r'<details data-filter-title="label"[^>]*>.*?href="\?label=delete"', body, re.S)
    assert re.search(
        r'<details data-filter-title="event model"[^>]*>.*?href="\?event_model=people.personevent"', body, re.S
    )
