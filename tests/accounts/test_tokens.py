"""API tokens expire, and can be rotated and revoked by their user and revoked by a superuser."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token, TokenProxy
from rest_framework.test import APIClient

from tests.admin_smoke import admin_url

pytestmark = pytest.mark.django_db

PERSONS = "/api/v1/persons/"


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_older_than_the_ttl_answers_401_saying_it_expired(navigator_user, settings):
    assert settings.API_TOKEN_TTL_DAYS == 90
    token = Token.objects.create(user=navigator_user)
    assert _api(token.key).get(PERSONS).status_code == 200
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - dt.timedelta(days=90, minutes=1))
    response = _api(token.key).get(PERSONS)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated" and "API token expired on" in error["message"]
    settings.API_TOKEN_TTL_DAYS = 365  # the setting decides
    assert _api(token.key).get(PERSONS).status_code == 200


def test_the_user_reads_when_their_token_expires(navigator_user):
    token = Token.objects.create(user=navigator_user)
    response = _api(token.key).get("/api/v1/auth/token/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"created", "expires", "expired"} and body["expired"] is False
    created = dt.datetime.fromisoformat(body["created"])
    assert dt.datetime.fromisoformat(body["expires"]) - created == dt.timedelta(days=90)
    assert token.key not in response.content.decode()


def test_rotation_gives_a_new_key_and_kills_the_old_one_at_once(navigator_user):
    old = Token.objects.create(user=navigator_user)
    Token.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(days=80))
    response = _api(old.key).post("/api/v1/auth/token/rotate/")
    assert response.status_code == 200
    body = response.json()
    new_key = body["token"]
    assert new_key != old.key and set(body) == {"token", "created", "expires"}
    assert dt.datetime.fromisoformat(body["expires"]) > timezone.now() + dt.timedelta(days=89)  # a fresh 90 days
    assert _api(old.key).get(PERSONS).status_code == 401
    assert _api(new_key).get(PERSONS).status_code == 200
    assert list(Token.objects.filter(user=navigator_user).values_list("key", flat=True)) == [new_key]
    assert response["Cache-Control"] == "no-store"


def test_rotation_and_revocation_take_no_body(navigator_user):
    token = Token.objects.create(user=navigator_user)
    response = _api(token.key).post("/api/v1/auth/token/rotate/", {"user": "someone-else"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"user": ["Unknown field: this request takes no body."]}
    assert Token.objects.get(user=navigator_user).key == token.key  # nothing changed


def test_the_user_revokes_their_own_token(navigator_user):
    token = Token.objects.create(user=navigator_user)
    response = _api(token.key).delete("/api/v1/auth/token")  # with or without the trailing slash
    assert response.status_code == 204
    assert not Token.objects.filter(user=navigator_user).exists()
    assert _api(token.key).get(PERSONS).status_code == 401


def test_revoking_through_the_session_when_there_is_no_token_is_404(navigator_user):
    client = APIClient()
    client.force_authenticate(navigator_user)
    response = client.delete("/api/v1/auth/token/")
    assert response.status_code == 404 and response.json()["error"]["message"] == "You have no API token."
    assert client.get("/api/v1/auth/token/").status_code == 404


def test_anonymous_callers_cannot_use_the_token_endpoints(navigator_user):
    assert APIClient().post("/api/v1/auth/token/rotate/").status_code == 401
    assert APIClient().delete("/api/v1/auth/token/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_rotations_leave_exactly_one_working_token(navigator_user):
    old = Token.objects.create(user=navigator_user)
    barrier = threading.Barrier(4)
    results: list[tuple[int, str | None]] = []

    def rotate():
        try:
            barrier.wait()
            response = _api(old.key).post("/api/v1/auth/token/rotate/")
            results.append((response.status_code, response.json().get("token")))
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status in (200, 401) for status, _ in results), results  # 401: the old key died first
    assert 200 in {status for status, _ in results}
    assert Token.objects.filter(user=navigator_user).count() == 1
    live = Token.objects.get(user=navigator_user).key
    assert live in {key for _, key in results}
    assert _api(live).get(PERSONS).status_code == 200 and _api(old.key).get(PERSONS).status_code == 401


# --- The admin ---------------------------------------------------------------------------------------------


def test_a_superuser_revokes_any_users_token_in_the_admin(superuser, navigator_user, crm_supervisor_user):
    token = Token.objects.create(user=navigator_user)
    for other in (navigator_user, crm_supervisor_user):  # nobody else opens the token admin
        refused = Client()
        refused.force_login(other)
        assert refused.get(admin_url(TokenProxy, "changelist")).status_code == 403
        assert refused.post(admin_url(TokenProxy, "delete", navigator_user.pk), {"post": "yes"}).status_code == 403
    assert Token.objects.filter(user=navigator_user).exists()
    client = Client()
    client.force_login(superuser)
    listing = client.get(admin_url(TokenProxy, "changelist"))
    assert listing.status_code == 200
    assert token.key not in listing.content.decode()  # keys are passwords: not shown
    assert "nav" in listing.content.decode()
    response = client.post(admin_url(TokenProxy, "delete", navigator_user.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Token.objects.filter(user=navigator_user).exists()
    assert _api(token.key).get(PERSONS).status_code == 401


def test_the_account_page_issues_rotates_and_revokes_the_users_own_token(navigator_user):
    client = Client()
    client.force_login(navigator_user)
    page = client.get("/admin/account/")
    assert page.status_code == 200 and "You have no API token" in page.content.decode()
    issued = client.post("/admin/account/token/rotate/")
    key = Token.objects.get(user=navigator_user).key
    assert issued.status_code == 200 and key in issued.content.decode()
    assert "no-store" in issued["Cache-Control"]
    assert _api(key).get(PERSONS).status_code == 200
    assert key not in client.get("/admin/account/").content.decode()  # shown once
    client.post("/admin/account/token/rotate/")
    assert _api(key).get(PERSONS).status_code == 401
    assert client.post("/admin/account/token/revoke/").status_code == 302
    assert not Token.objects.filter(user=navigator_user).exists()
