"""Facts about the HTTP client of a request, read in one place."""

from __future__ import annotations

import ipaddress


def client_ip(request) -> str | None:
    """The client's IP address, as logged by the PHI access log (and anything else that needs it).

    For now the socket peer (``REMOTE_ADDR``): behind a reverse proxy that is the proxy. Trusting
    ``X-Forwarded-For`` from known proxies belongs here, and only here, so every caller follows.
    """
    address = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
