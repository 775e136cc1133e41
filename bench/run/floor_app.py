"""The HTTP floor: a bare WSGI application that answers each case's raw-SQL floor over HTTP.

``python -m bench.run`` starts it under gunicorn with the project's ``gunicorn.conf.py`` (the same worker
class, workers and threads as the CRM) and times ``GET /floor/<n>`` with the same keep-alive client as the
CRM's requests. Each request runs floor ``n`` of the JSON file named by ``BENCH_FLOORS_FILE`` (its SQL and
parameters, written by ``bench.run`` from the cases) on a psycopg connection of its thread, fetches every
row as a dict, ``json.dumps`` them and sends them: the least any web application must do to answer the
same rows over HTTP. No framework, no middleware, no authentication, no count.
"""

from __future__ import annotations

import json
import os
import threading

import psycopg
from psycopg.rows import dict_row

_local = threading.local()
_floors: list[dict] | None = None


def _load() -> list[dict]:
    global _floors
    if _floors is None:
        with open(os.environ["BENCH_FLOORS_FILE"], encoding="utf-8") as stream:
            _floors = json.load(stream)
    return _floors


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg.connect(os.environ["BENCH_FLOOR_DSN"], row_factory=dict_row)
        _local.connection = connection
    return connection


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/health/":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    floors = _load()
    try:
        floor = floors[int(path.removeprefix("/floor/"))]
    except (ValueError, IndexError):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    connection = _connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(floor["sql"], floor["params"])
            rows = cursor.fetchall() if cursor.description else []
        connection.commit()
    except psycopg.Error as exc:
        connection.rollback()
        body = str(exc).encode()
        start_response("500 Internal Server Error", [("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps(rows, default=str).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
