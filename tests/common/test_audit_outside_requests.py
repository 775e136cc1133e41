"""Changes made outside web requests name their channel and the OS user: management commands (Django's
own too, however started), ``manage.py shell``, scripts, and a DBA's raw SQL in psql."""

from __future__ import annotations

import getpass
import json
import socket
import uuid

import pghistory
import psycopg
import pytest
from django.contrib.staticfiles.management.commands import runserver as staticfiles_runserver
from django.core.management import call_command, load_command_class
from django.core.management.commands import runserver
from django.db import connection

from common.audit import command_channel, history_queryset, record_history, script_audit_context
from people.models import Person
from tests.subprocess_utils import database_url, run_manage

OS_USER = getpass.getuser()


def _context_of(person: Person, action: str = "insert") -> dict:
    return next(e for e in record_history(person) if e.action == action).context


@pytest.mark.django_db
def test_djangos_own_commands_record_channel_command_and_the_os_user(tmp_path):
    pk = uuid.uuid4()
    fixture = tmp_path / "people.json"
    fixture.write_text(
        json.dumps([{"model": "people.person", "pk": str(pk), "fields": {"first_name": "Lo", "last_name": "Ader"}}])
    )
    call_command("loaddata", str(fixture), verbosity=0)

    context = _context_of(Person.objects.get(pk=pk))
    assert context["channel"] == "command" and context["command"] == "loaddata"
    assert context["os_user"] == OS_USER and context["host"] == socket.gethostname()
    entry = record_history(Person.objects.get(pk=pk))[0]
    assert (entry.channel, entry.username, entry.who) == ("command", None, f"{OS_USER} (OS user)")


@pytest.mark.django_db
def test_a_command_run_inside_a_request_or_another_command_keeps_the_outer_context(tmp_path):
    pk = uuid.uuid4()
    fixture = tmp_path / "people.json"
    fixture.write_text(
        json.dumps([{"model": "people.person", "pk": str(pk), "fields": {"first_name": "In", "last_name": "Ner"}}])
    )
    user_id = str(uuid.uuid4())
    with pghistory.context(channel="api", user=user_id):
        call_command("loaddata", str(fixture), verbosity=0)
    context = _context_of(Person.objects.get(pk=pk))
    assert context == {"channel": "api", "user": user_id}


def test_web_serving_commands_get_no_process_wide_context():
    # A context for the whole process would merge every request's changes into one context row.
    assert command_channel(runserver.Command()) is None
    assert command_channel(staticfiles_runserver.Command()) is None
    assert command_channel(load_command_class("django.core", "shell")) == "shell"
    assert command_channel(load_command_class("django.core", "loaddata")) == "command"
    assert command_channel(load_command_class("common", "seed_demo")) == "command"


@pytest.mark.django_db
def test_scripts_record_channel_script_and_the_os_user():
    with script_audit_context("fix_phones.py"):
        person = Person.objects.create(first_name="Scr", last_name="Ipt")
    context = _context_of(person)
    assert context["channel"] == "script" and context["script"] == "fix_phones.py"
    assert context["os_user"] == OS_USER


@pytest.mark.django_db(transaction=True)
def test_manage_py_shell_records_channel_shell_and_the_os_user():
    code = "from people.models import Person; Person.objects.create(first_name='Shelly', last_name='Made')"
    result = run_manage(
        "shell",
        "-c",
        code,
        env={
            "DJANGO_SETTINGS_MODULE": "crm_project.settings.test",
            "DATABASE_URL": database_url(connection.settings_dict),
        },
    )
    assert result.returncode == 0, result.stderr

    person = Person.objects.get(first_name="Shelly")
    context = _context_of(person)
    assert context["channel"] == "shell" and context["command"] == "shell"
    assert context["os_user"] == OS_USER and context["host"] == socket.gethostname()


def _plain_connection() -> psycopg.Connection:
    """A connection of our own, not Django's: no middleware, no pghistory wrapper, just SQL as psql sends it."""
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )


@pytest.mark.django_db(transaction=True)
def test_a_dba_session_is_attributed_after_crm_audit_context():
    person = Person.objects.create(first_name="Dee", last_name="Bea", phone="")
    with _plain_connection() as dba:
        # Without the function, raw SQL carries no context at all.
        dba.execute("UPDATE person SET first_name = 'Anonymous' WHERE id = %s", [person.pk])
        (context_id,) = dba.execute("SELECT crm_audit_context('alice', 'ticket 4711: merge typo')").fetchone()
        dba.execute("UPDATE person SET phone = '+18015550123' WHERE id = %s", [person.pk])
        dba.execute("UPDATE person SET last_name = 'Bee' WHERE id = %s", [person.pk])  # same session, same context
        dba.execute("RESET pghistory.context_id; RESET pghistory.context_metadata")
        dba.execute("UPDATE person SET first_name = 'Dee' WHERE id = %s", [person.pk])
        (db_user,) = dba.execute("SELECT session_user").fetchone()

    updates = [e for e in record_history(person) if e.action == "update"]
    assert [sorted(e.changes) for e in updates] == [["first_name"], ["phone"], ["last_name"], ["first_name"]]
    assert updates[0].context == {} and updates[3].context == {}
    for entry in updates[1:3]:
        assert entry.channel == "dba" and entry.who == "alice (DBA)"
        assert entry.context["actor"] == "alice" and entry.context["reason"] == "ticket 4711: merge typo"
        assert entry.context["db_user"] == db_user
    context_ids = [e.pgh_context_id for e in history_queryset(person) if e.pgh_label == "update"]
    assert context_ids == [None, context_id, context_id, None]


@pytest.mark.django_db
def test_crm_audit_context_needs_an_actor_and_a_reason():
    with connection.cursor() as cursor:
        for actor, reason in (("", "why"), ("alice", " "), (None, "why")):
            with pytest.raises(Exception, match="needs an actor") as caught:
                cursor.execute("SAVEPOINT s")
                try:
                    cursor.execute("SELECT crm_audit_context(%s, %s)", [actor, reason])
                finally:
                    cursor.execute("ROLLBACK TO SAVEPOINT s")
            assert caught.value.__cause__.sqlstate == "22023"
