"""The database connection's settings behind a transaction-mode connection pooler (PgBouncer).

``DATABASE_POOLER=transaction`` says that ``DATABASE_URL`` names a PgBouncer in ``pool_mode =
transaction``: each transaction may run on another server connection, so nothing may outlive a
transaction on the server side. What Django and psycopg would otherwise keep there:

* **prepared statements**: psycopg 3 prepares a query it has run ``prepare_threshold`` times, under a name
  of its own connection (``_pg3_0``...), on the server connection it happened to get; another client on
  that server connection collides with it, and the next transaction may land on one without it.
  PgBouncer 1.18 (Debian 12's) cannot track them. Django 5.2 already passes ``prepare_threshold=None``
  unless ``OPTIONS`` names one (and its default client-side binding cursors never prepare); behind the
  pooler it is pinned to ``None`` whatever ``OPTIONS`` say, ``server_side_binding`` included.
* **server-side cursors**: ``QuerySet.iterator()`` outside a transaction declares a ``WITH HOLD`` cursor
  and fetches from it in later transactions, which the pooler may send to another server connection
  ("cursor does not exist"); inside one it holds the transaction (and a server connection) open for as
  long as the client reads. ``DISABLE_SERVER_SIDE_CURSORS`` turns them into plain
  queries; the streamed CSV exports read keyset batches instead (``common.db.keyset_batches``), so their
  memory stays flat either way.

What stays correct without a setting, and why (proved by tests/scaling/test_pgbouncer.py):

* the audit trail's request context: pghistory prepends ``set_config('pghistory.context_id', ..., true)``
  to each statement in the same query string, so the context is transaction-local and travels with the
  statement it labels;
* the search's statement timeout (``common.search``) is ``set_config(..., true)`` inside its own
  ``transaction.atomic``; ``SET LOCAL synchronous_commit`` (PHI access log) is transaction-local too;
* the import runner's lock is ``pg_advisory_xact_lock``.

What must not go through the pooler: the task worker (procrastinate ``LISTEN``s for jobs and holds a
session advisory lock per import run) and long batch commands whose temporary tables span transactions
(``find_duplicates``): they run with ``DATABASE_URL`` naming PostgreSQL itself and ``DATABASE_POOLER``
unset (docs/OPERATIONS.md, "Connection pooler").
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

POOLER_MODES = ("", "transaction", "session")


def apply_pooler(db: dict, mode: str) -> dict:
    """``db`` (one ``DATABASES`` entry) made safe behind a pooler in ``mode``; unchanged for "" or "session"
    (a session pooler hands a client one server connection for its whole session)."""
    mode = (mode or "").strip().lower()
    if mode not in POOLER_MODES:
        raise ImproperlyConfigured(f"DATABASE_POOLER must be one of 'transaction', 'session' or empty, not {mode!r}")
    if mode != "transaction":
        return db
    return {
        **db,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {**db.get("OPTIONS", {}), "prepare_threshold": None},
    }
