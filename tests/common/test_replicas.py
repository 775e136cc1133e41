"""The read-replica router (issue 13) without a replica server: the alias ``replica_1`` reads the test
database through a connection of its own (crm_project/settings/test.py), and the tests tell which
connection served what by capturing each connection's queries. The real primary + streaming replica:
tests/scaling/test_replicas.py.

Transactional tests: the replica alias is another connection, so it sees committed rows only."""

from __future__ import annotations

import pytest
from django.db import connections, transaction
from django.test import override_settings

from common import replicas
from common.models import PHIAccess
from crm_project.db_router import ReplicaRouter
from people.models import Person
from tests.conftest import make_user
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "cache", "replica_1"])

API = "/api/v1"


@pytest.fixture
def with_replica():
    replicas.health.reset()
    with override_settings(DATABASE_REPLICAS=["replica_1"], REPLICA_CHECK_SECONDS=0):
        yield
    replicas.health.reset()


@pytest.fixture
def api(client, with_replica):
    client.force_login(make_user("root", superuser=True))
    return client


def _served(client, method: str, path: str, **kwargs):
    """The response and the SQL each connection ran for it (recorded without opening a connection)."""
    sql = {"default": [], "replica_1": []}

    def recorder(alias):
        def record(execute, statement, params, many, context):
            sql[alias].append(statement)
            return execute(statement, params, many, context)

        return record

    with (
        connections["default"].execute_wrapper(recorder("default")),
        connections["replica_1"].execute_wrapper(recorder("replica_1")),
    ):
        response = getattr(client, method)(path, **kwargs)
    return response, sql["default"], sql["replica_1"]


def _reads_of(table: str, sql: list[str]) -> list[str]:
    return [s for s in sql if s.startswith("SELECT") and f'"{table}"' in s]


def test_without_replicas_the_router_has_no_opinion():
    router = ReplicaRouter()
    assert replicas.replica_aliases() == []
    assert router.db_for_read(Person) is None
    assert router.db_for_write(Person) is None
    assert Person.objects.all().db == "default"


def test_an_api_list_reads_the_replica_and_who_may_read_it_from_the_primary(api):
    PersonFactory.create_batch(3)
    response, primary, replica = _served(api, "get", f"{API}/persons/")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 3
    assert _reads_of("person", replica), replica
    assert not _reads_of("person", primary), primary
    # The session, the user and the permissions: always the primary.
    assert _reads_of("django_session", primary) and not _reads_of("django_session", replica)
    assert _reads_of("crm_user", primary) and not _reads_of("crm_user", replica)
    # The lag check: the primary's WAL position on the primary, the replayed one on the replica.
    assert any("pg_current_wal_lsn" in s for s in primary)
    assert any("pg_last_wal_replay_lsn" in s for s in replica)


def test_a_get_runs_outside_the_request_transaction_and_a_post_inside(api):
    # The admin's and the API's views see no transaction on a GET (so their reads can be routed)...
    PersonFactory()
    response, primary, _ = _served(api, "get", f"{API}/persons/")
    assert response.status_code == 200
    assert not any(s.startswith("SAVEPOINT") for s in primary)
    # ...and a POST is atomic as before: a refused write leaves nothing behind.
    response = api.post(f"{API}/persons/", {"first_name": "", "last_name": "Doe"}, content_type="application/json")
    assert response.status_code == 400
    assert Person.objects.count() == 1


def test_a_write_pins_the_request_and_the_next_few_seconds_to_the_primary(api):
    body = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
    response, primary, replica = _served(api, "post", f"{API}/persons/", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert replica == []  # a POST reads the primary, also after its write (the serializer's reads)
    assert replicas.COOKIE_NAME in response.cookies
    cookie = response.cookies[replicas.COOKIE_NAME]
    assert cookie["httponly"] and cookie["max-age"] == 5
    # The same browser's next page reads the primary: it shows what was just saved.
    response, primary, replica = _served(api, "get", f"{API}/persons/{response.json()['id']}/")
    assert response.status_code == 200
    assert replica == []
    assert _reads_of("person", primary)


def test_a_forged_or_expired_cookie_is_ignored(api):
    PersonFactory()
    api.cookies[replicas.COOKIE_NAME] = "1"  # not signed
    response, _, replica = _served(api, "get", f"{API}/persons/")
    assert response.status_code == 200
    assert _reads_of("person", replica)
    with override_settings(REPLICA_READ_YOUR_WRITES_SECONDS=0):
        api.cookies[replicas.COOKIE_NAME] = api.cookies[replicas.COOKIE_NAME].value
        response = api.post(f"{API}/persons/", {"first_name": "A", "last_name": "B"}, content_type="application/json")
        assert response.status_code == 201
        assert replicas.COOKIE_NAME not in response.cookies or not response.cookies[replicas.COOKIE_NAME].value


def test_a_detail_get_logs_its_phi_access_on_the_primary(api):
    person = PersonFactory()
    response, primary, replica = _served(api, "get", f"{API}/persons/{person.pk}/")
    assert response.status_code == 200
    assert _reads_of("person", replica)
    # The log's INSERT on the primary (its ``SET LOCAL synchronous_commit = off`` prefix is added by an inner
    # execute wrapper, which this recorder does not see: tests/common/test_phi_access.py checks it).
    assert any(s.startswith('INSERT INTO "phi_access_log"') for s in primary), primary
    assert not any(s.startswith("INSERT") for s in replica)
    assert PHIAccess.objects.filter(resource_id=str(person.pk)).count() == 1
    # No read-your-writes cookie for the log entry a GET writes.
    assert replicas.COOKIE_NAME not in response.cookies


def _in_request(*, method: str = "GET"):
    state = replicas.RequestRouting(replica_allowed=method in replicas.READ_ONLY_METHODS)
    replicas._request.set(state)
    return state


def test_reads_after_a_write_in_the_same_request_and_reads_in_a_transaction_use_the_primary(with_replica):
    try:
        _in_request()
        assert Person.objects.all().db == "replica_1"
        with transaction.atomic():
            assert Person.objects.all().db == "default"
        assert Person.objects.all().db == "replica_1"
        person = PersonFactory()  # a write
        assert Person.objects.all().db == "default"
        assert Person.objects.get(pk=person.pk).first_name == person.first_name
        _in_request(method="POST")
        assert Person.objects.all().db == "default"
    finally:
        replicas._request.set(None)
    assert Person.objects.all().db == "default"  # outside a request (commands, workers)


def test_an_object_read_from_the_replica_is_saved_on_the_primary(with_replica):
    PersonFactory(first_name="Old")
    try:
        _in_request()
        person = Person.objects.get()
        assert person._state.db == "replica_1"
        person.first_name = "New"
        person.save()
        assert person._state.db == "default"
    finally:
        replicas._request.set(None)
    assert Person.objects.get().first_name == "New"


def test_a_lagging_replica_is_skipped(with_replica):
    try:
        with override_settings(REPLICA_MAX_LAG_BYTES=-1):  # the mirror lags 0 bytes: more than -1
            _in_request()
            assert Person.objects.all().db == "default"
            assert replicas.health.status("replica_1").reason.startswith("lagging")
        replicas.health.reset()
        _in_request()
        assert Person.objects.all().db == "replica_1"
    finally:
        replicas._request.set(None)


def test_an_unreachable_replica_is_skipped_then_retried(api):
    PersonFactory()
    replica = connections["replica_1"]
    replica.close()
    port = replica.settings_dict["PORT"]
    replica.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        with override_settings(REPLICA_RETRY_SECONDS=3600):
            response, primary, replica_sql = _served(api, "get", f"{API}/persons/")
            assert response.status_code == 200
            assert response.json()["count"] == 1
            assert _reads_of("person", primary)
            status = replicas.health.status("replica_1")
            assert not status.usable and status.reason.startswith("unreachable")
            replica.settings_dict["PORT"] = port
            # Within the back-off the replica is not tried even though it is back...
            response, primary, replica_sql = _served(api, "get", f"{API}/persons/")
            assert response.status_code == 200 and replica_sql == []
        # ...after it, it is.
        with override_settings(REPLICA_RETRY_SECONDS=0):
            replicas.health.statuses["replica_1"].down_until = float("-inf")
            response, _, replica_sql = _served(api, "get", f"{API}/persons/")
            assert response.status_code == 200
            assert _reads_of("person", replica_sql)
    finally:
        replica.settings_dict["PORT"] = port


def test_parse_lsn():
    assert replicas.parse_lsn("0/0") == 0
    assert replicas.parse_lsn("0/16B3748") == 0x16B3748
    assert replicas.parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert replicas.parse_lsn(None) is None


def test_admin_pages_read_the_replica_for_lists_and_write_nothing_there(api):
    person = PersonFactory()
    response, primary, replica = _served(api, "get", "/admin/people/person/")
    assert response.status_code == 200
    assert _reads_of("person", replica) and not _reads_of("person", primary)
    # A record's page too (Django's admin opens no transaction for a GET); its PHI access-log entry is
    # written on the primary. Saving the form is a POST: it reads and writes the primary.
    response, primary, replica = _served(api, "get", f"/admin/people/person/{person.pk}/change/")
    assert response.status_code == 200
    assert _reads_of("person", replica)
    assert any(s.startswith('INSERT INTO "phi_access_log"') for s in primary)
    for path in ("/admin/", "/admin/people/person/", f"{API}/persons/", f"{API}/persons/{person.pk}/"):
        response, _, replica = _served(api, "get", path)
        assert response.status_code == 200, path
        assert all(s.startswith(("SELECT", "WITH")) for s in replica), (path, replica)
