"""The app role (web and workers) against real PostgreSQL roles: it writes through the services but
cannot rewrite, empty or unprotect the points ledger. Roles are created inside the test's transaction,
so they vanish with it (roles are cluster-wide; the names are random for parallel workers)."""

from __future__ import annotations

import contextlib
import uuid
from io import StringIO

import pgtrigger
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, ProgrammingError, connection, transaction

from cm_program import services
from cm_program.models import CMPointsTransaction, PointsEvent
from common.db_roles import APPEND_ONLY_TABLES, owned_relations
from common.management.commands.db_roles import Command as DbRolesCommand
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory

pytestmark = pytest.mark.django_db
INSUFFICIENT_PRIVILEGE = "42501"


def _execute(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture
def make_role(db):
    (allowed,) = _execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")[0]
    if not allowed:
        pytest.skip("the test database user may not create roles (needs SUPERUSER or CREATEROLE)")

    def make(*attributes: str) -> str:
        name = f"crm_app_test_{uuid.uuid4().hex[:12]}"
        _execute(f"CREATE ROLE {name} NOLOGIN {' '.join(attributes)}")
        return name

    return make


@pytest.fixture
def app_role(make_role) -> str:
    return make_role()


@contextlib.contextmanager
def acting_as(role: str):
    """Run the block as ``role`` (``SET LOCAL ROLE`` in a savepoint: undone by its rollback on error)."""
    with transaction.atomic():
        _execute(f"SET LOCAL ROLE {connection.ops.quote_name(role)}")
        yield
        _execute("RESET ROLE")


def assert_refused_privilege(role: str, sql: str) -> None:
    with pytest.raises(ProgrammingError) as caught, acting_as(role):
        _execute(sql)
    assert caught.value.__cause__.sqlstate == INSUFFICIENT_PRIVILEGE, caught.value


@pytest.fixture
def granted_app_role(app_role) -> str:
    out = StringIO()
    call_command("db_roles", app_role=app_role, stdout=out)
    assert "append-only: cm_points_transactions (INSERT and SELECT only" in out.getvalue()
    return app_role


def test_the_app_role_writes_through_the_services_but_cannot_rewrite_or_empty_the_ledger(granted_app_role):
    program, cpss = CMProgramFactory(name="Moonlit CM"), CMProviderFactory()
    with acting_as(granted_app_role):
        assert _execute("SELECT current_user")[0][0] == granted_app_role
        enrollment = services.cm_patient_enroll_new(
            first_name="Ann", last_name="Lee", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
        ).enrollment
        services.cm_event_record(enrollment=enrollment, event_type=PointsEvent.TEST_NEGATIVE)
        services.cm_points_reverse(
            points_transaction=CMPointsTransaction.objects.get(enrollment=enrollment, sequence=2), reason="lab error"
        )
    entries = list(CMPointsTransaction.objects.filter(enrollment=enrollment).values_list("sequence", "event_type"))
    assert entries == [(1, "enrollment_bonus"), (2, "test_negative"), (3, "reversal")]

    assert_refused_privilege(granted_app_role, "UPDATE cm_points_transactions SET points = 1000")
    assert_refused_privilege(granted_app_role, "DELETE FROM cm_points_transactions")
    assert_refused_privilege(granted_app_role, "TRUNCATE cm_points_transactions")
    # Skipping the append-only trigger is any session's right; it does not give back the privilege.
    ignoring = pgtrigger.ignore("cm_program.CMPointsTransaction:append_only")
    with ignoring, pytest.raises(ProgrammingError, match="permission denied"), acting_as(granted_app_role):
        CMPointsTransaction.objects.filter(enrollment=enrollment).update(points=1000)
    # Only an owner may disable a trigger, and the app role owns nothing.
    assert_refused_privilege(granted_app_role, "ALTER TABLE cm_points_transactions DISABLE TRIGGER ALL")
    assert owned_relations(role=granted_app_role) == []

    # The owner is still refused by the trigger (it could disable it; that is what the roles are for).
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="cannot be truncated"), transaction.atomic():
        _execute("TRUNCATE cm_points_transactions")
    assert CMPointsTransaction.objects.filter(enrollment=enrollment).count() == 3
    assert [e.points for e in CMPointsTransaction.objects.filter(enrollment=enrollment)] == [25, 50, -50]


def test_other_tables_stay_writable_and_tables_created_later_are_granted_by_default(granted_app_role):
    program = CMProgramFactory(name="Moonlit CM")
    with acting_as(granted_app_role):
        _execute("UPDATE contingency_management SET description = 'changed' WHERE id = %s", [program.pk])
        assert _execute("SELECT description FROM contingency_management WHERE id = %s", [program.pk]) == [("changed",)]
    assert_refused_privilege(granted_app_role, "TRUNCATE contingency_management")
    _execute("CREATE TABLE crm_later_table (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
    with acting_as(granted_app_role):
        _execute("INSERT INTO crm_later_table (note) VALUES ('a'), ('b')")
        _execute("UPDATE crm_later_table SET note = 'c' WHERE note = 'b'")
        _execute("DELETE FROM crm_later_table WHERE note = 'a'")
        assert _execute("SELECT note FROM crm_later_table") == [("c",)]
    assert_refused_privilege(granted_app_role, "TRUNCATE crm_later_table")


def test_the_phi_access_log_is_append_only_for_the_app_role_when_it_exists(app_role):
    assert "phi_access_log" in APPEND_ONLY_TABLES
    created = not _execute("SELECT to_regclass('phi_access_log') IS NOT NULL")[0][0]
    if created:  # the table is being added by another change; stand in for it
        _execute("CREATE TABLE phi_access_log (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
    out = StringIO()
    call_command("db_roles", app_role=app_role, stdout=out)
    call_command("db_roles", app_role=app_role, stdout=out)  # idempotent: a second run changes nothing
    assert out.getvalue().count("append-only: phi_access_log (INSERT and SELECT only") == 2
    if created:
        with acting_as(app_role):
            _execute("INSERT INTO phi_access_log (note) VALUES ('viewed')")
    for statement in ("UPDATE phi_access_log SET id = id", "DELETE FROM phi_access_log", "TRUNCATE phi_access_log"):
        assert_refused_privilege(app_role, statement)
    privileges = _execute(
        "SELECT has_table_privilege(%s, 'phi_access_log', 'INSERT'), has_table_privilege(%s, 'phi_access_log', "
        "'UPDATE'), has_table_privilege(%s, 'phi_access_log', 'DELETE')",
        [app_role] * 3,
    )
    assert privileges == [(True, False, False)]


def test_a_missing_append_only_table_is_skipped_and_said(app_role, monkeypatch):
    # db_roles may run before the migration that creates a listed table (a new append-only table).
    monkeypatch.setattr("common.db_roles.APPEND_ONLY_TABLES", (*APPEND_ONLY_TABLES, "crm_not_created_yet"))
    out = StringIO()
    call_command("db_roles", app_role=app_role, stdout=out)
    assert "append-only: crm_not_created_yet does not exist here (skipped)" in out.getvalue()
    assert "append-only: phi_access_log (INSERT and SELECT only" in out.getvalue()


def test_refuses_roles_that_privileges_cannot_bind(make_role):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("db_roles", app_role="crm_no_such_role_x", stdout=StringIO())
    owner = _execute("SELECT current_user")[0][0]
    with pytest.raises(CommandError, match="is the role running this command"):
        call_command("db_roles", app_role=owner, stdout=StringIO())
    table_owner = make_role()
    _execute(f"CREATE TABLE crm_owned_by_app (id int); ALTER TABLE crm_owned_by_app OWNER TO {table_owner}")
    with pytest.raises(CommandError, match=r"owns 1 relation\(s\) .*crm_owned_by_app.*REASSIGN OWNED BY"):
        call_command("db_roles", app_role=table_owner, stdout=StringIO())
    if _execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0]:
        with pytest.raises(CommandError, match="is a superuser"):
            call_command("db_roles", app_role=make_role("SUPERUSER"), stdout=StringIO())


def test_help_names_the_append_only_tables():
    text = DbRolesCommand().create_parser("manage.py", "db_roles").format_help()
    assert "--app-role" in text and all(table in text for table in APPEND_ONLY_TABLES)
