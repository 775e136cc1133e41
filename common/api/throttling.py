"""API throttles whose counters every process and web node shares (PostgreSQL, via the "throttle" cache).

DRF's throttles count in ``django.core.cache.cache`` (per process with the default LocMem cache, so
three gunicorn workers would allow three times the rate). These count in the ``throttle`` cache: a
DatabaseCache on its own autocommitting connection (see ``crm_project.cache_router``).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``API_THROTTLE_ANON``,
``API_THROTTLE_USER``) and are read per request rather than once at import (DRF's default), so a
changed setting applies at once. A throttled request answers 429 in the API's error shape with
``Retry-After`` (``common.api.exceptions``).
"""

from __future__ import annotations

from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from common.http import client_ip

THROTTLE_CACHE = "throttle"


class _SharedCounter:
    cache = ConnectionProxy(caches, THROTTLE_CACHE)

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        # The client address as the lockout and the access log see it (TRUSTED_PROXIES), not DRF's own
        # reading of X-Forwarded-For.
        return client_ip(request._request) or super().get_ident(request)

    def allow_request(self, request, view) -> bool:
        request._request.crm_throttles_checked = True
        return super().allow_request(request, view)


def throttle_refused_request(exc: Exception, context: dict) -> Exception:
    """Count a request that was refused before DRF reached its throttles, and answer 429 past the rate.

    DRF checks throttles after authentication and permissions, so without this a stream of requests
    with no token, a wrong token or a forbidden role would never be throttled: exactly the requests
    an attacker sends. Returns the ``Throttled`` to answer instead of ``exc``, or ``exc``.
    """
    view, request = context.get("view"), context.get("request")
    if isinstance(exc, Throttled) or view is None or request is None:
        return exc
    if getattr(request._request, "crm_throttles_checked", False):
        return exc  # counted already (the refusal came later, from the view itself)
    try:
        view.check_throttles(request)
    except Throttled as throttled:
        return throttled
    return exc


class AnonThrottle(_SharedCounter, AnonRateThrottle):
    """Requests without valid credentials, per client address (``anon`` rate)."""


class UserThrottle(_SharedCounter, UserRateThrottle):
    """Authenticated requests, per user whatever their token or session (``user`` rate)."""
