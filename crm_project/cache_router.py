"""Send Django's DatabaseCache to the ``cache`` connection (the same database, its own connection).

The API throttle keeps its counters in a DatabaseCache. On the request's own connection they would
share the request's transaction (``ATOMIC_REQUESTS``): an error response rolls the request back and
its count with it, and the counter row stays locked until the request ends, so one user's parallel
requests would queue behind each other. The ``cache`` alias autocommits each cache write instead.
"""

from __future__ import annotations

CACHE_ALIAS = "cache"


class CacheRouter:
    def _route(self, model) -> str | None:
        # DatabaseCache's stand-in model (django.core.cache.backends.db) has app_label "django_cache".
        return CACHE_ALIAS if model._meta.app_label == "django_cache" else None

    def db_for_read(self, model, **hints):
        return self._route(model)

    def db_for_write(self, model, **hints):
        return self._route(model)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The alias is the default database under another name: migrations run once, through "default".
        return False if db == CACHE_ALIAS else None
