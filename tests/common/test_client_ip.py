"""``common.http.client_ip`` behind load balancers: ``X-Forwarded-For`` believed only from ``TRUSTED_PROXIES``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from common.http import client_ip

LB = "10.0.0.5"  # the load balancer, inside TRUSTED_PROXIES' 10.0.0.0/24


def _ip(remote: str, forwarded: str | None = None) -> str | None:
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **headers))


@pytest.fixture
def proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "2001:db8::1"]
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        (LB, "203.0.113.7", "203.0.113.7"),  # one balancer: the address it saw
        (LB, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # what the client wrote itself (left) proves nothing
        (LB, "203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two trusted hops (10.0.0.9 too): the first untrusted
        (LB, " 203.0.113.7 ", "203.0.113.7"),  # spaces around an entry
        (LB, "10.0.0.9, 10.0.0.8", "10.0.0.9"),  # every hop trusted (an internal client): the leftmost
        (LB, "", LB),  # no header: the balancer itself
        (LB, None, LB),
        (LB, "not-an-address", LB),  # nonsense: the last hop believed, never a 500
        (LB, "203.0.113.7, junk, 10.0.0.9", "10.0.0.9"),  # junk behind a trusted hop stops the walk there
        ("203.0.113.50", "198.51.100.1", "203.0.113.50"),  # an untrusted sender's header is ignored
        ("10.0.1.5", "198.51.100.1", "10.0.1.5"),  # just outside the network: ignored as well
        ("2001:db8::1", "2001:db8::7", "2001:db8::7"),  # IPv6 balancer and client
        ("2001:db8::2", "198.51.100.1", "2001:db8::2"),  # a single trusted IPv6 address is a /128
        ("garbage", "198.51.100.1", None),  # no address at all: None, as without proxies
    ],
)
def test_rightmost_untrusted_address_wins(proxies, remote, forwarded, expected):
    assert _ip(remote, forwarded) == expected


def test_trusted_networks_win_over_the_proxy_count(proxies):
    proxies.TRUSTED_PROXY_COUNT = 2  # ignored while TRUSTED_PROXIES names the proxies
    assert _ip("203.0.113.50", "198.51.100.1, 192.0.2.3") == "203.0.113.50"


def test_without_trusted_networks_the_proxy_count_applies(settings):
    settings.TRUSTED_PROXIES = []
    settings.TRUSTED_PROXY_COUNT = 1
    assert _ip("203.0.113.50", "198.51.100.1, 192.0.2.3") == "192.0.2.3"
    settings.TRUSTED_PROXY_COUNT = 0
    assert _ip("203.0.113.50", "198.51.100.1") == "203.0.113.50"


def test_a_bad_network_in_the_setting_names_itself(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "ten.0.0.0"]
    with pytest.raises(ImproperlyConfigured, match="'ten.0.0.0'"):
        _ip(LB, "203.0.113.7")
