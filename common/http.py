"""Facts about the HTTP client of a request, read in one place."""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an IP address or a network (CIDR, e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def trusted_proxy_networks() -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` as networks (a bare address is a /32 or /128)."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def _from_trusted_networks(remote: str | None, forwarded: str, networks: tuple[Network, ...]) -> str | None:
    """The rightmost address of the chain ``X-Forwarded-For`` + ``REMOTE_ADDR`` that is not a trusted proxy.

    Each trusted proxy appends the address it received the request from, so reading from the right, every
    entry up to and including the first untrusted one was written by a proxy we believe; what lies further
    left was written by the client (or a proxy we do not know) and proves nothing. A sender outside the
    networks gets its header ignored: it could have written anything there.
    """
    if remote is None or not _is_trusted(remote, networks):
        return remote
    current = remote
    for part in reversed(forwarded.split(",")):
        address = _address(part)
        if address is None:
            # Not an address: the last hop we believe is the answer (a trusted proxy would not write it).
            return current
        current = address
        if not _is_trusted(address, networks):
            return address
    # Every hop is a trusted proxy (a request from inside the proxies' own network): the leftmost one.
    return current


def client_ip(request) -> str | None:
    """The client's IP address: what the PHI access log records and what failed logins (django-axes'
    ``AXES_CLIENT_IP_CALLABLE``) and the API throttle (``common.api.throttling``) count against.

    ``REMOTE_ADDR``, unless the request came through proxies the settings name:

    * ``TRUSTED_PROXIES`` (addresses or CIDR networks of the load balancers): when ``REMOTE_ADDR`` is one
      of them, the rightmost address in ``X-Forwarded-For`` that is not a trusted proxy; a header from any
      other sender is ignored.
    * otherwise ``TRUSTED_PROXY_COUNT`` proxies: the address the outermost of them saw, read from
      ``X-Forwarded-For`` from the right (the entries further left were written by the client and prove
      nothing).

    Anything that is not an IP address falls back to the last address believed; ``None`` when even
    ``REMOTE_ADDR`` is not one.
    """
    remote = _address(request.META.get("REMOTE_ADDR"))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    networks = trusted_proxy_networks()
    if networks:
        return _from_trusted_networks(remote, forwarded, networks)
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return _address(addresses[-min(proxies, len(addresses))]) or remote
