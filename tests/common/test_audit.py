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
