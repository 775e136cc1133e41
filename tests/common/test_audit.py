import pytest
from django.core.management import call_command

from common.audit import audit_context, record_history
from people.models import Person


@pytest.mark.django_db
def test_bulk_update_is_recorded_with_actor_and_channel(superuser):
    person = Person.objects.create(first_name="Ann", last_name="Lee", email="ann@example.org")
    with audit_context(actor=superuser, channel="command"):
        Person.objects.filter(pk=person.pk).update(phone="+18015550123")  # no save(), no signals

    history = record_history(person)
    assert [e.action for e in history] == ["insert", "update"]
    update = history[-1]
    assert update.changes == {"phone": ["", "+18015550123"]}
    assert update.username == "root" and update.channel == "command"


@pytest.mark.django_db
def test_admin_edit_is_recorded_with_the_admin_user(client, superuser):
    person = Person.objects.create(first_name="Ann", last_name="Lee", email="ann@example.org")
    client.force_login(superuser)
    response = client.post(
        f"/admin/people/person/{person.pk}/change/",
        {
            "first_name": "Anne",
            "last_name": "Lee",
            "email": "ann@example.org",
            "phone": "",
            "is_active": "on",
            # the person page carries the inline of role periods
            "role_periods-TOTAL_FORMS": "0",
            "role_periods-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    last = record_history(person)[-1]
    assert last.changes["first_name"] == ["Ann", "Anne"]
    assert (last.username, last.channel) == ("root", "admin")


@pytest.mark.django_db
def test_delete_is_recorded():
    person = Person.objects.create(first_name="Ann", last_name="Lee")
    pk = person.pk
    Person.all_objects.filter(pk=pk).delete()
    from common.audit import history_queryset

    labels = [e.pgh_label for e in history_queryset(Person(pk=pk))]
    assert labels == ["insert", "delete"]


@pytest.mark.django_db
def test_management_commands_are_recorded_as_channel_command():
    call_command("seed_demo")
    # seed_demo creates users only (untracked); a tracked write inside an AuditedCommand:
    from common.management.base import AuditedCommand

    class Touch(AuditedCommand):
        def handle(self, *args, **options):
            Person.objects.create(first_name="Cmd", last_name="Made")

    Touch().execute(no_color=True, stdout=None, stderr=None, skip_checks=True, force_color=False, verbosity=0)
    person = Person.objects.get(last_name="Made")
    entry = record_history(person)[0]
    assert entry.channel == "command" and entry.context["command"]


@pytest.mark.django_db
def test_history_triggers_fire_once_per_statement():
    """Statement-level triggers (issue 10: bulk writes with the trail on): no tracked table keeps a
    row-level history trigger."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, t.tgname, (t.tgtype & 1) = 1 AS per_row
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE NOT t.tgisinternal AND t.tgname ~ '^pgtrigger_(insert_insert|update_update|delete_delete)_'
            """
        )
        triggers = cursor.fetchall()
    assert {table for table, _, _ in triggers} >= {"person", "patient", "call_history", "cm_enrollments"}
    assert [(table, name) for table, name, per_row in triggers if per_row] == []


@pytest.mark.django_db
def test_bulk_writes_record_one_event_per_row_with_its_values_and_context(superuser):
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    from common.audit import history_queryset

    with audit_context(actor=superuser, channel="import"):
        people = Person.objects.bulk_create(
            Person(first_name=f"Bulk{i}", last_name="Row", email=f"bulk{i}@example.org") for i in range(50)
        )
        Person.objects.filter(pk__in=[p.pk for p in people[:30]]).update(last_name=Concat("last_name", Value("-x")))
        # Changes nothing: no event (the update tracker's "something changed" condition holds per row).
        Person.objects.filter(pk__in=[p.pk for p in people]).update(first_name=F("first_name"))
        Person.objects.filter(pk__in=[p.pk for p in people[40:]]).delete()

    events = list(history_queryset(*people))
    by_label = {label: [e for e in events if e.pgh_label == label] for label in ("insert", "update", "delete")}
    assert [len(by_label[label]) for label in ("insert", "update", "delete")] == [50, 30, 10]
    assert {str(e.pgh_obj_id) for e in by_label["insert"]} == {str(p.pk) for p in people}
    assert {(str(e.pgh_obj_id), e.pgh_data["last_name"]) for e in by_label["update"]} == {
        (str(p.pk), "Row-x") for p in people[:30]
    }
    assert {str(e.pgh_obj_id) for e in by_label["delete"]} == {str(p.pk) for p in people[40:]}
    assert all(e.pgh_context and e.pgh_context["user"] == str(superuser.pk) for e in events)
    assert {e.pgh_context["channel"] for e in events} == {"import"}
    entry = record_history(people[0])[-1]
    assert (entry.action, entry.changes, entry.username) == ("update", {"last_name": ["Row", "Row-x"]}, "root")


def _edit_many_times(person, times: int) -> None:
    for i in range(times):
        Person.objects.filter(pk=person.pk).update(last_name=f"Lee{i:03d}")


@pytest.mark.django_db
def test_admin_history_page_is_paginated_newest_first(client, superuser):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    person = Person.objects.create(first_name="Ann", last_name="Lee", email="ann@example.org")
    _edit_many_times(person, 120)  # 121 events with the insert
    client.force_login(superuser)
    url = f"/admin/people/person/{person.pk}/history/"
    with CaptureQueriesContext(connection) as first:
        page1 = client.get(url)
    with CaptureQueriesContext(connection) as second:
        page2 = client.get(url, {"p": "2"})
    assert page1.status_code == page2.status_code == 200
    rows1, rows2 = page1.context["entries"], page2.context["entries"]
    assert len(rows1) == 100 and len(rows2) == 21
    assert rows1[0].changes["last_name"] == ["Lee118", "Lee119"]  # newest first
    assert rows2[-1].action == "insert"
    assert b"Page 1 of 2 (121 changes)" in page1.content and b"Older" in page1.content
    assert len(first.captured_queries) == len(second.captured_queries)
    # A page number it cannot use shows a page, never an error.
    assert client.get(url, {"p": "zzz"}).status_code == 200


@pytest.mark.django_db
def test_audit_trail_reads_only_the_page_asked_for(django_assert_num_queries):
    person = Person.objects.create(first_name="Ann", last_name="Lee", email="ann@example.org")
    _edit_many_times(person, 9)
    trail = record_history(person)
    with django_assert_num_queries(1):
        assert len(trail) == 10
    with django_assert_num_queries(2):  # the events of the slice, the users they name
        page = trail[2:4]
    assert [e.changes["last_name"] for e in page] == [["Lee000", "Lee001"], ["Lee001", "Lee002"]]
    assert trail[-1].changes["last_name"] == ["Lee007", "Lee008"]
    trail.chunk_size = 3  # iteration: keyset batches, same entries in the same order
    assert [e.data["last_name"] for e in trail] == ["Lee"] + [f"Lee{i:03d}" for i in range(9)]
    newest = record_history(person, newest_first=True)
    newest.chunk_size = 4
    assert [e.data["last_name"] for e in newest] == [f"Lee{i:03d}" for i in reversed(range(9))] + ["Lee"]
