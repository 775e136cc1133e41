"""Facts about the HTTP client of a request, read in one place."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address: what the PHI access log records and what failed logins (django-axes'
    ``AXES_CLIENT_IP_CALLABLE``) and the API throttle (DRF's ``NUM_PROXIES``) count against.

    ``REMOTE_ADDR``, unless ``TRUSTED_PROXY_COUNT`` proxies stand in front of the app: then the address
    the outermost trusted proxy saw, read from ``X-Forwarded-For`` from the right (the entries further
    left were written by the client and prove nothing). Anything that is not an IP address falls back to
    ``REMOTE_ADDR``; ``None`` when even that is not one.
    """
    remote = _address(request.META.get("REMOTE_ADDR"))
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return _address(addresses[-min(proxies, len(addresses))]) or remote
