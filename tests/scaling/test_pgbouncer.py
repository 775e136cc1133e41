"""Django through PgBouncer in transaction mode (issue 13, point 2; crm_project/db_pooler.py).

A real PgBouncer (Debian's 1.18) runs in front of the test database with **two** server connections, and
the suite's own ``default`` connection - and every thread's - is pointed at it with ``DATABASE_POOLER=
transaction``'s settings. Then, with more clients than server connections (so every server connection
really is shared, transaction by transaction):

* audited writes made by several users at once carry each its own request's context (user, URL) in
  pghistory's context table, and a client writing without a context gets none (nothing leaks);
* nothing session-bound is left on a server connection for the next client (pghistory's variables, the
  search's statement timeout): each server connection is asked afterwards;
* the streamed CSV export works in keyset batches, with no server-side cursor;
* the search's bounded walk is cancelled by its transaction-local statement timeout and the page served.
"""

from __future__ import annotations

import csv
import io
import shutil
import threading

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common.audit import history_queryset
from crm_project.db_pooler import apply_pooler
from people.models import Person
from tests.conftest import make_user
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.scaling.conftest import require_program
from tests.scaling.processes import start_pgbouncer, stop, unprivileged_folder

POOL_SIZE = 2
CLIENTS = 6

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup, django_db_blocker):
    """PgBouncer (transaction mode, POOL_SIZE server connections) in front of the test database: its port."""
    program = require_program("pgbouncer")
    db = connections["default"].settings_dict
    folder, extra = unprivileged_folder("crm-pgbouncer-", near=db["HOST"])
    process, port = start_pgbouncer(
        program,
        folder,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        pool_size=POOL_SIZE,
        extra=extra,
    )
    yield {"port": port, "user": db["USER"] or "postgres", "name": db["NAME"], "log": folder / "pgbouncer.log"}
    stop(process)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled(pgbouncer):
    """Every new connection of the ``default`` alias (this thread's and any other's) goes through PgBouncer
    with the settings ``DATABASE_POOLER=transaction`` gives; restored afterwards."""
    settings_dict = connections["default"].settings_dict  # the dict every thread's new connection is built from
    saved = {**settings_dict, "OPTIONS": dict(settings_dict.get("OPTIONS", {}))}
    connection.close()
    settings_dict.update(
        apply_pooler({**settings_dict, "HOST": "127.0.0.1", "PORT": str(pgbouncer["port"])}, "transaction")
    )
    try:
        yield pgbouncer
    finally:
        connection.close()
        settings_dict.clear()
        settings_dict.update(saved)


def _admin_console(pgbouncer, command: str) -> list[dict]:
    with psycopg.connect(
        host="127.0.0.1", port=pgbouncer["port"], dbname="pgbouncer", user=pgbouncer["user"], autocommit=True
    ) as admin:
        cursor = admin.execute(command)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _servers(pgbouncer) -> list[dict]:
    return [row for row in _admin_console(pgbouncer, "SHOW SERVERS") if row["database"] == pgbouncer["name"]]


def _clients(pgbouncer) -> list[dict]:
    return [row for row in _admin_console(pgbouncer, "SHOW CLIENTS") if row["database"] == pgbouncer["name"]]


def _raw(pgbouncer) -> psycopg.Connection:
    """A plain client of the pooler, as another program would be (autocommit: one transaction a statement)."""
    return psycopg.connect(
        host="127.0.0.1",
        port=pgbouncer["port"],
        dbname=pgbouncer["name"],
        user=pgbouncer["user"],
        autocommit=True,
        prepare_threshold=None,
    )


def _each_server_connection_says(pgbouncer, sql: str) -> set:
    """``sql``'s answer from every server connection: POOL_SIZE clients each hold a transaction open at once,
    so together they occupy every server connection of the pool."""
    clients = [_raw(pgbouncer) for _ in range(POOL_SIZE)]
    try:
        for client in clients:
            client.execute("BEGIN")
        answers = {
            (client.execute("SELECT pg_backend_pid()").fetchone()[0], client.execute(sql).fetchone()[0])
            for client in clients
        }
        for client in clients:
            client.execute("COMMIT")
    finally:
        for client in clients:
            client.close()
    assert len({pid for pid, _ in answers}) == POOL_SIZE  # every server connection answered
    return {answer for _, answer in answers}


def _in_threads(work, count: int) -> None:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_the_connection_goes_through_the_pooler_with_its_settings(pooled):
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    assert any(row["port"] for row in _clients(pooled))  # this process is a client of PgBouncer ...
    assert pid in {row["remote_pid"] for row in _servers(pooled)}  # ... served by one of its connections


def test_audited_writes_through_the_pooler_carry_each_request_s_own_context(pooled):
    users = [make_user(f"pooled{i}", superuser=True) for i in range(CLIENTS)]
    persons = [PersonFactory(first_name=f"P{i}") for i in range(CLIENTS)]
    bystander = PersonFactory(first_name="Bystander")
    connection.close()
    all_connected = threading.Barrier(CLIENTS + 2)  # the writers, the raw writer and this thread
    rounds = 4
    seen = {}

    def writer(index: int) -> None:
        client = Client()
        client.force_login(users[index])
        all_connected.wait()
        for n in range(rounds):
            response = client.patch(
                f"/api/v1/persons/{persons[index].pk}/",
                {"last_name": f"Round{n}"},
                content_type="application/json",
                HTTP_X_REQUEST_ID=f"pooled-{index}-{n}",
            )
            assert response.status_code == 200, response.content

    def raw_writer() -> None:
        with _raw(pooled) as raw:
            all_connected.wait()
            for n in range(rounds * 2):
                raw.execute("UPDATE person SET last_name = %s WHERE id = %s", [f"Raw{n}", bystander.pk])

    def run(index: int) -> None:
        raw_writer() if index == CLIENTS else writer(index)

    monitor = threading.Thread(target=lambda: (all_connected.wait(), seen.update(clients=len(_clients(pooled)))))
    monitor.start()
    _in_threads(run, CLIENTS + 1)
    monitor.join()
    # More clients than server connections at once: the pool's two connections really were shared.
    assert seen["clients"] >= CLIENTS + 1 > POOL_SIZE
    assert len(_servers(pooled)) <= POOL_SIZE

    for user, person in zip(users, persons, strict=True):
        updates = [e for e in history_queryset(person) if e.pgh_label == "update"]
        assert [e.pgh_data["last_name"] for e in updates] == [f"Round{n}" for n in range(rounds)]
        assert {e.pgh_context["user"] for e in updates} == {str(user.pk)}
        assert {e.pgh_context["url"] for e in updates} == {f"/api/v1/persons/{person.pk}/"}
        assert {e.pgh_context["request_id"] for e in updates} == {
            f"pooled-{users.index(user)}-{n}" for n in range(rounds)
        }
    raw_updates = [e for e in history_queryset(bystander) if e.pgh_label == "update"]
    assert len(raw_updates) == rounds * 2 and all(e.pgh_context is None for e in raw_updates)
    # Nothing of a request's context stays on a server connection for the next client.
    assert _each_server_connection_says(pooled, "SELECT current_setting('pghistory.context_id', true)") <= {
        None,
        "",
    }
    assert not Person.objects.filter(last_name__startswith="Round").exclude(pk__in=[p.pk for p in persons])


def test_the_csv_export_streams_in_keyset_batches_through_the_pooler(pooled, monkeypatch):
    superuser = make_user("root", superuser=True)
    navigators = NavigatorFactory.create_batch(20)
    monkeypatch.setattr("patients.admin_views.CSV_CHUNK_ROWS", 7)
    client = Client()
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:patients_caseload_csv"))
        body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(body)))
    assert sorted(row[1] for row in rows[1:]) == sorted(p.email for p in navigators)
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([s for s in sql if "LIMIT 7" in s]) == 3  # 20 rows: 7 + 7 + 6
    assert not any("DECLARE" in s.upper() for s in sql)  # no cursor to outlive its transaction


def test_the_search_s_statement_timeout_works_and_stays_in_its_transaction(pooled, monkeypatch):
    from common.search import fetch_searched_rows, search

    made = [PersonFactory(last_name="Smith", first_name=f"A{n}") for n in range(6)]
    PersonFactory.create_batch(4, last_name="Jones")
    default = _each_server_connection_says(pooled, "SHOW statement_timeout")
    monkeypatch.setattr("common.search.WALK_BUDGET_MS", 1)
    queryset = (
        search(Person.objects.all(), ["first_name", "last_name", "email"], "smith")
        .order_by("last_name", "first_name", "id")
        .extra(where=["pg_sleep(%s) IS NOT NULL"], params=[0.005])  # each row tested costs 5 ms: cancelled
    )
    with CaptureQueriesContext(connection) as queries:
        rows = fetch_searched_rows(queryset, 0, 4)
    expected = list(Person.objects.filter(pk__in=[p.pk for p in made]).order_by("last_name", "first_name", "id")[:4])
    assert rows == expected
    sql = [q["sql"] for q in queries.captured_queries]
    assert any("'1ms'" in s for s in sql) and any("COALESCE" in s for s in sql)  # cancelled, then sorted
    assert _each_server_connection_says(pooled, "SHOW statement_timeout") == default


def test_prepared_statements_are_off_as_pgbouncer_1_18_cannot_share_them(pooled):
    """Why ``prepare_threshold: None``: psycopg names its prepared statements per client connection
    (``_pg3_0``, ...), and two clients that reach the same server connection collide (or miss the one
    they prepared on another). Django 5.2 passes ``prepare_threshold=None`` itself unless ``OPTIONS`` name
    one, and the pooler's settings pin it: with ``server_side_binding`` on, nothing is prepared."""
    clients = [_raw(pooled) for _ in range(POOL_SIZE + 2)]
    for client in clients:
        client.prepare_threshold = 0  # prepare every statement: psycopg's default after five runs
    with pytest.raises((psycopg.errors.DuplicatePreparedStatement, psycopg.errors.InvalidSqlStatementName)):
        for n in range(10):
            for client in clients:
                client.execute("SELECT %s::int + 1", [n]).fetchone()
    for client in clients:
        client.close()

    person = PersonFactory()
    connection.close()
    connection.settings_dict["OPTIONS"]["server_side_binding"] = True  # restored by the fixture
    # What the demonstration left prepared on the server connections (PgBouncer resets nothing between
    # clients in transaction mode): Django's reads below must add nothing to it.
    prepared = "SELECT string_agg(name, ',' ORDER BY name) FROM pg_prepared_statements"
    before = _each_server_connection_says(pooled, prepared)

    def read(_index: int) -> None:
        for _ in range(15):
            assert Person.objects.filter(pk=person.pk).values_list("first_name", flat=True).get() == person.first_name

    _in_threads(read, CLIENTS)
    assert _each_server_connection_says(pooled, prepared) == before
