"""API throttling: anonymous and authenticated rates, 429 in the API's error shape with Retry-After, and
counters kept in PostgreSQL (shared by every process), including for requests that were refused."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection, connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

# Transactional: the throttle's connection commits each count, as in production, and this test's own
# connection reads them (in a TestCase both would sit in test transactions).
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "cache"])

PERSONS = "/api/v1/persons/"


@pytest.fixture(autouse=True)
def low_rates_in_postgres(settings):
    """The production set-up (DatabaseCache on its own connection) with rates a test can reach."""
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "api_throttle_cache"},
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "5/min"}}
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()  # the cache connection commits at once: leave nothing for the next test
    connections["cache"].close()  # else the test database cannot be dropped at the end of the run


def _token_client(user, ip: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "Request was throttled" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["Cache-Control"] == "no-store"


def test_anonymous_requests_are_throttled_although_each_was_refused():
    client = APIClient(REMOTE_ADDR="10.9.0.1")
    statuses = [client.get(PERSONS).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]  # each refusal rolls its request back; the count stays
    _assert_throttled(client.get(PERSONS))
    # Guessing tokens from the same address is throttled the same way.
    _assert_throttled(client.get(PERSONS, HTTP_AUTHORIZATION="Token not-a-real-key"))
    # Another address has its own allowance.
    assert APIClient(REMOTE_ADDR="10.9.0.2").get(PERSONS).status_code == 401


def test_a_client_sent_forwarded_for_header_does_not_reset_the_count():
    client = APIClient(REMOTE_ADDR="10.9.0.3")
    for n in range(3):
        client.get(PERSONS, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    _assert_throttled(client.get(PERSONS, HTTP_X_FORWARDED_FOR="192.0.2.99"))


def test_token_requests_are_throttled_per_user(navigator_user, crm_supervisor_user):
    client = _token_client(navigator_user)
    assert [client.get(PERSONS).status_code for _ in range(5)] == [200] * 5
    _assert_throttled(client.get(PERSONS))
    _assert_throttled(_token_client(navigator_user, ip="10.9.9.9").post(PERSONS, {}, format="json"))  # any address
    assert _token_client(crm_supervisor_user).get(PERSONS).status_code == 200  # another user is not concerned


def test_forbidden_requests_count_too(cpss_user):
    client = _token_client(cpss_user)  # CPSS may not use the navigation endpoints: 403 each time
    assert [client.get(PERSONS).status_code for _ in range(5)] == [403] * 5
    _assert_throttled(client.get(PERSONS))


def test_the_counters_live_in_postgresql(navigator_user):
    _token_client(navigator_user).get(PERSONS)
    APIClient(REMOTE_ADDR="10.9.0.4").get(PERSONS)
    with connection.cursor() as cursor:  # the test's own connection sees what the cache connection committed
        cursor.execute("SELECT cache_key FROM api_throttle_cache ORDER BY cache_key")
        keys = [row[0] for row in cursor.fetchall()]
    assert f":1:throttle_user_{navigator_user.pk}" in keys
    assert ":1:throttle_anon_10.9.0.4" in keys
