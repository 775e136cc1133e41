"""Shared fixtures. Tests run against PostgreSQL: the embedded server, or DATABASE_URL when set."""

from __future__ import annotations

import factory.random
import pytest
from django.contrib.auth.models import Group

from common import roles
from people.models import User


@pytest.fixture(autouse=True)
def _reproducible_factory_data(request):
    """Seed Faker and factory_boy from the test's id: each test makes the same names and dates on
    every run and on every worker, so a failure can be replayed and none depends on the luck of
    random data (different tests still get different data)."""
    factory.random.reseed_random(request.node.nodeid)


@pytest.fixture(autouse=True, scope="session")
def _flush_may_empty_append_only_tables():
    """Transactional tests end with Django's ``flush`` (one TRUNCATE of every table), which the points
    ledger's TRUNCATE guard refuses. The test database is the one place where emptying it is wanted, so
    the flush (and only the flush) runs with that guard ignored."""
    import pgtrigger
    from django.core.management.commands import flush

    original = flush.Command.handle

    def handle(self, *args, **options):
        with pgtrigger.ignore(
            "cm_program.CMPointsTransaction:append_only_truncate",
            "cm_program.EnrollmentStatusChange:append_only_truncate",
        ):
            return original(self, *args, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flush.Command, "handle", handle)
        yield


def make_user(username: str, role: str | None = None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True, is_superuser=superuser)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def superuser(db) -> User:
    return make_user("root", superuser=True)


@pytest.fixture
def navigator_user(db) -> User:
    return make_user("nav", roles.PATIENT_NAVIGATORS)


@pytest.fixture
def crm_supervisor_user(db) -> User:
    return make_user("crmsup", roles.CRM_SUPERVISORS)


@pytest.fixture
def cpss_user(db) -> User:
    return make_user("cpss", roles.CPSS)


@pytest.fixture
def cm_supervisor_user(db) -> User:
    return make_user("cmsup", roles.CM_SUPERVISORS)


@pytest.fixture(scope="session", autouse=True)
def _flush_past_truncate_triggers():
    """Append-only tables refuse TRUNCATE (a statement-level trigger); the flush that ends each
    transactional test truncates every table, so it alone is let past those triggers."""
    import pgtrigger
    from django.db.backends.postgresql.operations import DatabaseOperations

    from tests.db import truncate_trigger_uris

    uris = truncate_trigger_uris()
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with pgtrigger.ignore(*uris):
            return original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original
