"""python -m bench.run: time every API list and detail, the writes, every admin changelist and the desk
pages against a gunicorn started with the project's configuration and production settings."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

from bench.run.report import Result, header, markdown_table, write_docs

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE = "crm_bench"
PASSWORD = "bench-pass-2026"  # the password of bench.generate's logins
BENCH_SUPERUSER = "bench_admin"

DESCRIPTION = f"""\
Start gunicorn (gunicorn.conf.py) with production settings on a free loopback port against a database
made by `python -m bench.generate` ({DEFAULT_DATABASE} by default, on the server that DATABASE_URL names;
DATABASE_URL is required), with the HTTPS redirect, two-factor login and the API throttle switched off
(SECURE_SSL_REDIRECT=false, SECURE_COOKIES=false, REQUIRE_2FA=false, API_THROTTLE=false) and the
per-request query count on (BENCH_QUERY_COUNT=true: the X-Query-Count response header).

It makes the superuser {BENCH_SUPERUSER} (password {PASSWORD}) and its API token in that database if
missing, then discovers the cases from the API routers and the admin site: every API list (page 1, a
filtered page, a search, a deep page reached the way `next` links work), every detail and nested GET,
POST /patients/, POST /call-history/, a CM event, every admin changelist (default, search by name,
email and phone, each filter of the sidebar), the patient hub, both caseload pages and their CSVs,
and the complete patient view.

For each case it prints p50 and p95 wall time seen by the client, SQL queries per request (the
X-Query-Count header; the rows of a streamed CSV are fetched after it and are not counted), the
gunicorn workers' user+system CPU per request (/proc, before and after the timed requests, divided
by their number) and the case's raw-SQL floor: the same rows fetched with psycopg and serialised
with json.dumps, timed in the same run, and the ratio of the two p50s; and the HTTP floor: the same SQL
and json.dumps answered by a bare WSGI application (bench/run/floor_app.py) under gunicorn with the
same configuration, timed by the same client, and the ratio to it. It never asserts on time.
Writes add rows to the benchmark database (patients, calls, ledger entries)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"database name (default {DEFAULT_DATABASE})")
    parser.add_argument("--filter", metavar="REGEX", help="run only the cases whose label matches (case-insensitive)")
    parser.add_argument("--n", type=int, default=20, help="timed requests per case (default 20)")
    parser.add_argument(
        "--max-seconds", type=float, default=15.0,
        help="stop timing a case after this many seconds, with at least 3 requests; a case whose first "
        "request takes over a third of this gets 1 warm-up and at least 1 timed request (default 15)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="C",
        help="C clients at once, each sending up to --n requests per case (default 1: one at a time); "
        "compare --workers/--threads settings by their req/s and CPU",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument(
        "--statement-timeout", type=float, default=60.0, metavar="SECONDS",
        help="the server's PostgreSQL statement_timeout (default 60): a slower page shows its error (500!)",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the cases and their URLs, time nothing")
    parser.add_argument(
        "--write-docs", nargs="?", const=str(ROOT / "docs" / "PERFORMANCE.md"), metavar="PATH",
        help="write the table into PATH (default docs/PERFORMANCE.md), between the bench.run markers",
    )  # fmt: skip
    parser.add_argument("--server-log", metavar="PATH", help="gunicorn's output goes here (default: discarded)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be 1 or more")
    if args.concurrency < 1:
        parser.error("--concurrency must be 1 or more")
    if args.filter:
        try:
            re.compile(args.filter)
        except re.error as exc:
            parser.error(f"--filter is not a regular expression: {exc}")
    return args


def database_url(name: str) -> str:
    """DATABASE_URL with its database name replaced by ``name`` (host, port, credentials kept)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    import environ

    url = environ.Env().str("DATABASE_URL", default="")
    if not url:
        raise SystemExit("Set DATABASE_URL to the server of the benchmark database (--database names the database).")
    parts = urlsplit(url)
    head, _, _ = parts.path.rpartition("/")
    return urlunsplit(parts._replace(path=f"{head}/{quote(name, safe='')}"))


def floor_connection():
    """A psycopg connection to the benchmark database, from Django's settings (Unix sockets included)."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )


def floor_dsn() -> str:
    """The benchmark database as a libpq connection string (for the HTTP floor's processes)."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    db = connection.settings_dict
    parts = {"dbname": db["NAME"], "user": db.get("USER"), "password": db.get("PASSWORD"), "host": db.get("HOST"),
             "port": db.get("PORT")}  # fmt: skip
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v})


def setup_django(url: str, server_env: dict[str, str]) -> None:
    for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "REQUIRE_2FA"):
        os.environ[key] = server_env[key]
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def check_database(name: str) -> None:
    from django.db import connection

    from bench.generate.__main__ import MARKER

    with connection.cursor() as cursor:
        cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
        row = cursor.fetchone()
    if row is None or row[0] != MARKER:
        raise SystemExit(f"Database '{name}' was not made by bench.generate: refusing to benchmark (or write) it.")


def bench_user() -> str:
    """The bench superuser and its API token (made in the benchmark database only); returns the token."""
    from rest_framework.authtoken.models import Token

    from people.models import User

    user = User.objects.filter(username=BENCH_SUPERUSER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_SUPERUSER, f"{BENCH_SUPERUSER}@example.org", PASSWORD)
    Token.objects.filter(user=user).delete()  # a fresh token: the TTL counts from now
    return Token.objects.create(user=user).key


def table_sizes() -> dict[str, int]:
    from django.db import connection

    sizes = {}
    with connection.cursor() as cursor:
        for table in ("person", "patient", "patient_lead", "call_history", "cm_enrollments", "cm_points_transactions"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            sizes[table] = cursor.fetchone()[0]
    return sizes


def time_case(case, clients, server, *, n: int, max_seconds: float) -> Result:
    """Time ``case``: with one client, up to ``n`` requests one after another; with several, each client
    sends up to ``n`` at once with the others (``--concurrency``), and req/s is what they got together."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.run.client import Reply

    numbers = iter(range(10**9))
    lock = threading.Lock()

    def send(client) -> Reply:
        with lock:
            i = next(numbers)
        return client.request(case.method, case.path, auth=case.auth, body=case.body(i) if case.body else None)

    warm = [send(clients[0])]
    # A case slower than a third of its budget gets one warm-up and as many timed requests as fit (>= 1).
    slow = warm[0].seconds > max_seconds / 3
    if not slow:
        warm.append(send(clients[0]))
    status = warm[-1].status
    if status not in case.ok:
        # A failed case shows how long the failure took (a statement_timeout shows as 500! or 503!).
        return Result(case.label, f"{status}!", 1, warm[-1].seconds * 1000, None, warm[-1].queries, None, None)
    started = time.monotonic()

    def loop(client) -> list[Reply]:
        replies = []
        for _ in range(n):
            replies.append(send(client))
            if len(replies) >= (1 if slow else 3) and time.monotonic() - started > max_seconds:
                break
        return replies

    cpu_before = server.worker_cpu_seconds()
    with ThreadPoolExecutor(len(clients)) as pool:
        replies = [reply for batch in pool.map(loop, clients) for reply in batch]
    elapsed = time.monotonic() - started
    cpu = (server.worker_cpu_seconds() - cpu_before) / len(replies)
    times = sorted(reply.seconds for reply in replies)
    queries = [reply.queries for reply in replies if reply.queries is not None]
    bad = [reply.status for reply in replies if reply.status not in case.ok]
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Result(
        case.label,
        f"{bad[0]}!" if bad else str(replies[-1].status),
        len(replies),
        statistics.median(times) * 1000,
        p95 * 1000,
        round(statistics.median(queries)) if queries else None,
        cpu * 1000,
        None,
        rps=len(replies) / elapsed if elapsed > 0 else None,
    )


def _start_floor_server(cases, url: str, args, log):
    """The HTTP floor (``bench.run.floor_app``) under gunicorn with the CRM's configuration, serving the
    floors of ``cases``; returns (server, client, {id(case): floor number}), or Nones when no case has one."""
    import tempfile

    from bench.run.client import Client
    from bench.run.server import Server

    floors, index = [], {}
    for case in cases:
        if case.floor is not None:
            index[id(case)] = len(floors)
            floors.append({"sql": case.floor.sql, "params": list(case.floor.params)})
    if not floors:
        return None, None, {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-floors-", delete=False) as stream:
        json.dump(floors, stream, default=str)
    dsn = floor_dsn()
    server = Server(
        url, workers=args.workers, threads=args.threads, statement_timeout=args.statement_timeout, log=log,
        app="bench.run.floor_app:application", extra_env={"BENCH_FLOORS_FILE": stream.name, "BENCH_FLOOR_DSN": dsn},
    )  # fmt: skip
    server.start()
    return server, Client(server.base_url), index


def _time_http_floor(client, number: int, n: int, max_seconds: float) -> float | None:
    """p50 (ms) of ``GET /floor/<number>`` after a warm-up request (two when fast), up to ``n`` requests or
    ``max_seconds``; None if the floor fails."""
    warm = client.request("GET", f"/floor/{number}", auth="none")
    if warm.status != 200:
        return None
    if warm.seconds < max_seconds / 3:
        client.request("GET", f"/floor/{number}", auth="none")
    times: list[float] = []
    while len(times) < n and (not times or sum(times) <= max_seconds):
        reply = client.request("GET", f"/floor/{number}", auth="none")
        if reply.status != 200:
            return None
        times.append(reply.seconds)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args.database)

    from bench.run.server import Server, server_environment

    setup_django(url, server_environment(url, 0, workers=None, threads=None))
    check_database(args.database)
    token = bench_user()

    import psycopg
    from django.db import connection

    from bench.run import cases as case_module
    from bench.run.client import Client
    from bench.run.floors import time_floor

    server_log = open(args.server_log, "a") if args.server_log else None  # noqa: SIM115
    server = Server(
        url, workers=args.workers, threads=args.threads, statement_timeout=args.statement_timeout, log=server_log
    )
    results: list[Result] = []
    with floor_connection() as floor_db, server:
        clients = []
        for _ in range(args.concurrency):
            client = Client(server.base_url)
            client.token = token
            client.login_admin(BENCH_SUPERUSER, PASSWORD)
            clients.append(client)
        client = clients[0]
        found = case_module.all_cases(client, floor_db)
        if args.filter:
            pattern = re.compile(args.filter, re.I)
            found = [c for c in found if pattern.search(c.label) or pattern.search(c.path)]
        if args.list:
            for case in found:
                print(f"{case.label:<70} {case.method} {case.path}")
            return 0
        floor_server, floor_client, floor_index = _start_floor_server(found, url, args, server_log)
        threads = server.env.get("GUNICORN_THREADS") or "4"
        config = f"gunicorn.conf.py, {len(server.worker_pids())} workers x {threads} threads"
        print(f"{len(found)} cases against {server.base_url} ({config}); database {args.database}", flush=True)
        for case in found:
            result = time_case(case, clients, server, n=args.n, max_seconds=args.max_seconds)
            if case.floor is not None and not result.status.endswith("!"):
                try:
                    floor_times = time_floor(floor_db, case.floor, max(3, min(args.n, result.n)), args.max_seconds)
                    result.floor_ms = statistics.median(floor_times) * 1000
                    result.floor_note = case.floor.note
                except psycopg.Error as exc:
                    floor_db.rollback()
                    print(f"  (floor of {case.label} failed: {str(exc).splitlines()[0]})", file=sys.stderr)
            if case.floor is not None and not result.status.endswith("!") and floor_client is not None:
                n_floor = max(3, min(args.n, result.n))
                result.http_floor_ms = _time_http_floor(floor_client, floor_index[id(case)], n_floor, args.max_seconds)
            cells = result.cells()
            print(f"  {cells[0]:<72} {cells[1]:>4} p50 {cells[2]:>9} p95 {cells[3]:>9} q {cells[4]:>4} "
                  f"cpu {cells[5]:>7} floor {cells[6]:>8} {cells[7]:>7} http floor {cells[8]:>8} {cells[9]:>7} "
                  f"{cells[10]:>7} req/s", flush=True)  # fmt: skip
            results.append(result)
        if floor_server is not None:
            floor_server.stop()
    if server_log:
        server_log.close()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = "PostgreSQL " + cursor.fetchone()[0].split()[0]
    text = header(
        sizes=table_sizes(), server=config, n=args.n, database=args.database, server_version=version,
        concurrency=args.concurrency,
    )  # fmt: skip
    table = markdown_table(results)
    print()
    print(text)
    print()
    print(table)
    if args.write_docs:
        write_docs(Path(args.write_docs), text + "\n\n" + table)
        print(f"\nWritten into {args.write_docs}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
