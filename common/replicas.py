"""Read replicas (issue 13): which connection a read goes to, and how healthy each replica is.

``DATABASE_REPLICA_URLS`` (settings) adds the aliases ``replica_1..n``; ``crm_project.db_router`` asks
``read_alias()`` here for every read. A read goes to a replica only when all of these hold:

* it is part of a ``GET``/``HEAD`` request (``ReplicaRoutingMiddleware`` marks the request); anything
  else (management commands, task workers, POSTs) reads the primary;
* the request carries no fresh "read your writes" cookie: a request that wrote sets it (signed, for
  ``REPLICA_READ_YOUR_WRITES_SECONDS``), so the same browser's next pages show what it just saved;
* nothing was written yet in this request (the first write pins the rest of the request to the primary);
* the primary's connection is not inside a transaction (``transaction.atomic``): what a transaction
  reads must be what it writes against;
* some replica is usable: reachable, and less than ``REPLICA_MAX_LAG_BYTES`` of WAL behind the primary
  (``pg_current_wal_lsn()`` on the primary minus ``pg_last_wal_replay_lsn()`` on the replica, measured
  at most every ``REPLICA_CHECK_SECONDS`` per process). An unreachable replica is left alone for
  ``REPLICA_RETRY_SECONDS``, then tried again. With no usable replica every read goes to the primary.

A request picks one replica for all its reads (one consistent point in the WAL per page).

GET and HEAD requests run without the request's transaction when replicas are configured
(``install_atomic_by_method``): under ``ATOMIC_REQUESTS`` every query of every request would be inside
a transaction on the primary. The writes a GET makes anyway (the PHI access log, sessions, the throttle
counters, django-axes, idempotency keys) go to the primary through the router (every write does) and
each commits on its own; the PHI access log opens its own short transaction (``common.phi_access``).
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from inspect import iscoroutinefunction

from django.conf import settings
from django.core import signals
from django.core.handlers.base import BaseHandler
from django.db import connections

logger = logging.getLogger(__name__)

PRIMARY = "default"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
COOKIE_NAME = "crm_primary_reads"
COOKIE_SALT = "common.replicas.read-your-writes"

# Read on the primary always, whatever the request: who may do what must never be a replica's stale
# copy (a deactivated user, a revoked role, a logged-out session, a lockout, a used idempotency key,
# the task queue's jobs).
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "authtoken", "axes", "otp_totp", "otp_static", "procrastinate"})
PRIMARY_ONLY_MODELS = frozenset({"people.user", "common.idempotencykey"})


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


# ---------------------------------------------------------------------------------------------------
# Per request


@dataclass
class RequestRouting:
    """What the router knows about the request being served (one per request, in a context variable)."""

    replica_allowed: bool
    wrote: bool = False
    alias: str | None = None  # the replica this request reads from, once picked
    picked: bool = False


_request: contextvars.ContextVar[RequestRouting | None] = contextvars.ContextVar("crm_replica_routing", default=None)


def current() -> RequestRouting | None:
    return _request.get()


def note_write() -> None:
    """A write went to the primary: the rest of this request reads the primary too."""
    state = _request.get()
    if state is not None:
        state.wrote = True


def primary_only_model(model) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS


def read_alias() -> str:
    """The alias for a read of patient or reference data made now (see the module docstring)."""
    state = _request.get()
    if state is None or not state.replica_allowed or state.wrote or not replica_aliases():
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:
        return PRIMARY
    if not state.picked:
        state.picked = True
        state.alias = health.pick()
    return state.alias or PRIMARY


class ReplicaRoutingMiddleware:
    """Marks GET/HEAD requests as readable from a replica (unless the browser wrote a moment ago), and
    hands a browser that wrote the signed "read your writes" cookie.

    The marking lasts until the response is closed (``request_finished``), so a streamed export reads
    its rows from the replica too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_aliases():
            return self.get_response(request)
        seconds = settings.REPLICA_READ_YOUR_WRITES_SECONDS
        wrote_recently = (
            request.get_signed_cookie(COOKIE_NAME, default=None, salt=COOKIE_SALT, max_age=seconds) is not None
        )
        state = RequestRouting(replica_allowed=request.method in READ_ONLY_METHODS and not wrote_recently)
        _request.set(state)
        request.replica_routing = state
        response = self.get_response(request)
        if state.wrote and request.method not in READ_ONLY_METHODS and seconds > 0:
            response.set_signed_cookie(
                COOKIE_NAME,
                "1",
                salt=COOKIE_SALT,
                max_age=seconds,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


def _request_finished(**kwargs) -> None:
    _request.set(None)


signals.request_finished.connect(_request_finished, dispatch_uid="common.replicas.request_finished")


# ---------------------------------------------------------------------------------------------------
# Replica health, per process


def parse_lsn(value: str | None) -> int | None:
    """``'16/B374D848'`` -> a byte position in the WAL."""
    if not value:
        return None
    high, low = value.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class ReplicaStatus:
    checked_at: float = float("-inf")
    usable: bool = False
    lag_bytes: int | None = None
    down_until: float = float("-inf")
    reason: str = "not checked yet"


@dataclass
class ReplicaHealth:
    """Each replica's reachability and lag, re-measured at most every ``REPLICA_CHECK_SECONDS``."""

    statuses: dict[str, ReplicaStatus] = field(default_factory=dict)
    primary_lsn: int | None = None
    primary_checked_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.statuses.clear()
            self.primary_lsn = None
            self.primary_checked_at = float("-inf")

    def pick(self) -> str | None:
        """A usable replica, ready to be read (its connection checked), or None."""
        usable = [alias for alias in replica_aliases() if self.status(alias).usable]
        random.shuffle(usable)
        for alias in usable:
            if self._connect(alias):
                return alias
        return None

    def status(self, alias: str) -> ReplicaStatus:
        now = time.monotonic()
        with self.lock:
            status = self.statuses.setdefault(alias, ReplicaStatus())
            if now < status.down_until or now - status.checked_at < settings.REPLICA_CHECK_SECONDS:
                return status
            status.checked_at = now
        self._measure(alias, status, now)
        return status

    def _primary_lsn(self, now: float) -> int | None:
        if now - self.primary_checked_at >= settings.REPLICA_CHECK_SECONDS or self.primary_lsn is None:
            with connections[PRIMARY].cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()::text")
                self.primary_lsn = parse_lsn(cursor.fetchone()[0])
            self.primary_checked_at = now
        return self.primary_lsn

    def _measure(self, alias: str, status: ReplicaStatus, now: float) -> None:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                in_recovery, replayed = cursor.fetchone()
        except Exception as exc:  # noqa: BLE001 - whatever stops the check (a lost server, a refused login...)
            self.mark_down(alias, f"unreachable: {exc}".strip())
            return
        primary = self._primary_lsn(now)
        if not in_recovery:
            # Not replaying WAL: a server of its own (the test suite's mirror alias of the primary).
            lag = 0
        else:
            replayed_at = parse_lsn(replayed)
            lag = None if primary is None or replayed_at is None else max(0, primary - replayed_at)
        status.lag_bytes = lag
        status.usable = lag is not None and lag <= settings.REPLICA_MAX_LAG_BYTES
        status.reason = "ok" if status.usable else f"lagging: {lag} bytes of WAL behind the primary"
        if not status.usable:
            logger.warning("replica %s skipped: %s", alias, status.reason)

    def _connect(self, alias: str) -> bool:
        """Django's pre-use health check of a kept connection, then a connection if there is none."""
        connection = connections[alias]
        try:
            connection.close_if_health_check_failed()
            connection.ensure_connection()
        except Exception as exc:  # noqa: BLE001 - as in _measure: a replica that cannot be used is skipped
            self.mark_down(alias, f"unreachable: {exc}".strip())
            return False
        return True

    def mark_down(self, alias: str, reason: str) -> None:
        """Skip ``alias`` for ``REPLICA_RETRY_SECONDS``; its broken connection is dropped."""
        with self.lock:
            status = self.statuses.setdefault(alias, ReplicaStatus())
            status.usable = False
            status.reason = reason
            status.down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
            status.checked_at = float("-inf")
        logger.warning("replica %s skipped for %ss: %s", alias, settings.REPLICA_RETRY_SECONDS, reason)
        try:
            connections[alias].close()
        except Exception:  # noqa: BLE001 - a connection that cannot even be closed is dropped
            connections[alias].connection = None


health = ReplicaHealth()


# ---------------------------------------------------------------------------------------------------
# GET and HEAD without the request's transaction


def install_atomic_by_method() -> None:
    """``ATOMIC_REQUESTS`` wraps every view in ``transaction.atomic``; with replicas configured, GET and
    HEAD run the view without it (their reads can then go to a replica), every other method exactly as
    before. Without replicas nothing changes."""
    original = BaseHandler.make_view_atomic
    if getattr(original, "crm_by_method", False):
        return

    def make_view_atomic(self, view):
        atomic_view = original(self, view)
        if atomic_view is view or iscoroutinefunction(view) or not replica_aliases():
            return atomic_view

        @wraps(view)
        def by_method(request, *args, **kwargs):
            if request.method in READ_ONLY_METHODS:
                return view(request, *args, **kwargs)
            return atomic_view(request, *args, **kwargs)

        return by_method

    make_view_atomic.crm_by_method = True
    BaseHandler.make_view_atomic = make_view_atomic


def request_is_atomic(request) -> bool:
    """Whether this request's view runs in the request's transaction (every request but a GET/HEAD
    when replicas are configured)."""
    return not (replica_aliases() and getattr(request, "method", None) in READ_ONLY_METHODS)


@contextmanager
def outside_request_transaction():
    """For error handling in a request that has no transaction of its own (a GET with read replicas):
    whatever asks to roll "the request's transaction" back (DRF's exception handler) leaves the rollback
    flag of the connections as it found them."""
    flags = {conn.alias: conn.needs_rollback for conn in connections.all(initialized_only=True) if conn.in_atomic_block}
    try:
        yield
    finally:
        for alias, needs_rollback in flags.items():
            connections[alias].needs_rollback = needs_rollback
