"""Send reads that may be a little stale to a read replica, everything else to the primary (issue 13).

Which reads may go to a replica is decided in ``common.replicas`` (GET/HEAD requests, no write yet, no
transaction, a usable replica, the browser did not write a moment ago; see its docstring). Every write
goes to the primary, also for an object that was read from a replica. Without ``DATABASE_REPLICA_URLS``
this router has no opinion (Django's defaults, as before).

It comes after ``CacheRouter`` in ``DATABASE_ROUTERS``: the throttle's counters keep their ``cache``
connection to the primary.
"""

from __future__ import annotations

from django.conf import settings

from common import replicas


def _same_database(alias: str | None) -> bool:
    return alias in (replicas.PRIMARY, "cache") or alias in replicas.replica_aliases()


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if not replicas.replica_aliases():
            return None
        if replicas.primary_only_model(model):
            return replicas.PRIMARY
        return replicas.read_alias()

    def db_for_write(self, model, **hints):
        if not replicas.replica_aliases():
            return None
        replicas.note_write()
        return replicas.PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        # A replica holds the primary's rows: an object read from one may point at an object from the other.
        if _same_database(obj1._state.db) and _same_database(obj2._state.db):
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A replica is read-only; it receives the primary's schema through replication.
        return False if db in getattr(settings, "DATABASE_REPLICAS", ()) else None
