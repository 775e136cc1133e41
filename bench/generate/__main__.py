"""python -m bench.generate: fill a benchmark database of its own with a realistic, large data set."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

from bench.generate.sizes import DEFAULTS, Layout, Sizes
from bench.harness import database_comment, server_connection

DEFAULT_DATABASE = "crm_bench"
MARKER = "bench.generate"  # the COMMENT on databases this command created (only those may be dropped)
RESERVED = ("postgres", "template0", "template1")

DESCRIPTION = """\
Fill a database of its own (crm_bench by default) with a large, realistic data set: persons with
shared, accented names, navigators with logins, patients, leads, physicians, calls (a few patients
with very many), CT and EAP journeys with their timelines, CM identities with profiles, IntakeQ
links, CPSS caseloads, enrollments and their points ledger. Every constraint of the schema holds
and every row has its audit event, as the history triggers would have written it.

It runs on the server that DATABASE_URL names, or on the project's embedded PostgreSQL; it creates
and migrates the database, and refuses the development database and test databases (test_*).

Full size (the defaults) needs about 15 GB of free disk while it loads (the finished database is
~9 GB; WAL and index sorts take the rest) and about 7.5 CPU-minutes: ~2 generating rows, ~5.5 in
the database. On an otherwise idle 2-core machine that took 7 minutes (measured 2026-12-02), 10
minutes beside other work, and 23 minutes with a load average of 16. Memory stays around 150 MB.
Sizes not given follow --persons in proportion: --persons 10000 is 1/100 of everything.
The logins (navigator0000..., cpss0000..., crm_supervisor, cm_supervisor, admin) have the password
bench-pass-2026. The same --seed (and --as-of) gives the same data."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, default in DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, type=_count, metavar="N", help=f"default {default:,}")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
        help="the day the data ends (default today); fix it to reproduce a data set exactly",
    )  # fmt: skip
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"database name (default {DEFAULT_DATABASE})")
    parser.add_argument("--drop", action="store_true", help="drop the database first (only one this command made)")
    parser.add_argument("--batch-rows", type=_count, default=None, metavar="N", help="rows per COPY transaction")
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the final report")
    return parser.parse_args(argv)


def _count(value: str) -> int:
    number = int(value.replace("_", "").replace(",", ""))
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def development_database() -> str:
    """The development database's name: DATABASE_URL's, or the embedded server's (read from the
    environment, not from settings, which the test runner rewrites to the test database's name)."""
    import environ

    from crm_project.embedded_db import DEFAULT_DB_NAME

    url = environ.Env().str("DATABASE_URL", default="")
    return environ.Env.db_url_config(url)["NAME"] if url else DEFAULT_DB_NAME


def refusal(name: str, development: str) -> str | None:
    """Why ``name`` must not be filled (None when it may)."""
    if name == development:
        return f"'{name}' is the development database; choose another --database (default {DEFAULT_DATABASE})."
    if name.startswith("test_"):
        return f"'{name}' is a test database name (test_*); the test suite owns those."
    if name in RESERVED:
        return f"'{name}' is a PostgreSQL system database."
    return None


def prepare_database(name: str, settings_dict: dict, *, drop: bool) -> None:
    """Create ``name`` (dropping it first with ``drop``); refuse to touch a database we did not make."""
    from psycopg import sql

    with server_connection(settings_dict) as conn:
        exists, comment = database_comment(conn, name)
        ours = exists and comment == MARKER
        if exists and not ours:
            raise SystemExit(f"Database '{name}' exists and was not created by bench.generate: refusing to use it.")
        if exists and drop:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = False
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARKER)))


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of a server process, when the server runs on this machine (None otherwise)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.scaled(**{name: getattr(args, name) for name in DEFAULTS})
    try:
        Layout.of(sizes)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None

    from bench.harness import setup_django

    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    default = settings.DATABASES["default"]
    if (why := refusal(args.database, development_database())) is not None:
        raise SystemExit(f"bench.generate refuses: {why}")
    started = time.perf_counter()
    prepare_database(args.database, default, drop=args.drop)
    connections.close_all()
    default["NAME"] = args.database
    connections["default"].settings_dict["NAME"] = args.database

    extra: dict[str, float] = {}
    migrate_started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    extra["migrate"] = time.perf_counter() - migrate_started

    from people.models import Person

    if Person.all_objects.exists():
        raise SystemExit(f"Database '{args.database}' already holds persons; run with --drop to recreate it.")
    with connection.cursor() as cursor:
        # A benchmark database can be rebuilt: no need to wait for each commit's WAL flush.
        cursor.execute("SET synchronous_commit TO off")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_cpu = backend_cpu_seconds(backend)
    own_cpu = time.process_time()

    from bench.generate.run import analyze, generate, report

    out = sys.stdout
    out.write(f"bench.generate into '{args.database}' (seed {args.seed}): " + ", ".join(
        f"{name.replace('_', ' ')} {value:,}" for name, value in sizes.as_dict().items()
    ) + "\n")  # fmt: skip
    out.flush()
    stats = generate(
        sizes=sizes, seed=args.seed, as_of=args.as_of, stream=sys.stderr, show_progress=not args.quiet,
        batch_rows=args.batch_rows,
    )  # fmt: skip
    extra["vacuum analyze"] = analyze(out)
    # On a shared machine wall time says little; the CPU each side needed says what an idle one would take.
    extra["CPU of this process (generating rows)"] = time.process_time() - own_cpu
    if backend_cpu is not None and (now := backend_cpu_seconds(backend)) is not None:
        extra["CPU of the database backend (load, indexes)"] = now - backend_cpu
    report(stats, total_seconds=time.perf_counter() - started, extra=extra, stream=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
