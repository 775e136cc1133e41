"""Login throttling and lockout (django-axes): per username + address, a readable 429, supervisor unlock."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client

from accounts.models import LoginLockout, LoginUnlock
from tests.accounts.conftest import post_login
from tests.admin_smoke import admin_url

pytestmark = pytest.mark.django_db


def _fail(client: Client, username: str, times: int, *, ip: str = "127.0.0.1") -> list[int]:
    return [post_login(client, username, "wrong-password", ip=ip).status_code for _ in range(times)]


def test_five_wrong_passwords_lock_the_login_even_for_the_right_password(client, navigator_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    # The first four answer the login form again ("please enter a correct username and password").
    assert _fail(client, "nav", 4) == [200, 200, 200, 200]
    locked = post_login(client, "nav", "wrong-password")  # the fifth failure locks
    assert locked.status_code == 429
    again = post_login(client, "nav", "pw")  # the right password no longer helps
    assert again.status_code == 429
    body = again.content.decode()
    assert "Too many failed logins" in body and "locked for 15 minutes" in body and "supervisor" in body
    assert "Traceback" not in body and again["Retry-After"] == str(15 * 60)
    assert again["Content-Type"].startswith("text/html")
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get(username="nav")
    assert (attempt.ip_address, attempt.failures_since_start) == ("127.0.0.1", 6)


def test_the_lock_is_per_username_and_address(client, navigator_user, crm_supervisor_user):
    _fail(client, "nav", 5, ip="10.0.0.1")
    assert post_login(client, "nav", ip="10.0.0.1").status_code == 429
    # The same login from another address, and another login from the same address, still work.
    assert post_login(Client(), "nav", ip="10.0.0.2").status_code == 302
    assert post_login(Client(), "crmsup", ip="10.0.0.1").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, navigator_user):
    _fail(client, "nav", 5)
    assert post_login(client, "nav").status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    response = post_login(client, "nav")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_successful_login_resets_the_count(client, navigator_user):
    _fail(client, "nav", 4)
    assert post_login(client, "nav").status_code == 302
    assert not AccessAttempt.objects.filter(username="nav").exists()
    assert _fail(Client(), "nav", 4) == [200, 200, 200, 200]  # four fresh tries, not one


def test_unknown_usernames_are_locked_too(client):
    assert _fail(client, "no-such-user", 5)[-1] == 429


# --- Supervisor unlock ----------------------------------------------------------------------------------


def _lock(username: str, ip: str = "10.1.1.1") -> LoginLockout:
    _fail(Client(), username, 5, ip=ip)
    return LoginLockout.objects.get(username=username, ip_address=ip)


def _unlock(client: Client, lockout: LoginLockout, reason: str = "Called me, identity checked."):
    url = admin_url(LoginLockout, "changelist")
    return client.post(
        url, {"action": "unlock_selected", "_selected_action": [lockout.pk], "apply": "1", "reason": reason}
    )


def test_a_crm_supervisor_unlocks_a_navigator_and_it_is_recorded(navigator_user, crm_supervisor_user):
    lockout = _lock("nav")
    sup = Client()
    sup.force_login(crm_supervisor_user)
    listing = sup.get(admin_url(LoginLockout, "changelist"))
    assert listing.status_code == 200
    assert [row.username for row in listing.context["cl"].result_list] == ["nav"]
    assert "Unlock the selected logins" in listing.content.decode()

    response = _unlock(sup, lockout)
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="nav").exists()
    unlock = LoginUnlock.objects.get()
    assert (unlock.username, unlock.ip_address, unlock.failures, unlock.unlocked_by, unlock.reason) == (
        "nav",
        "10.1.1.1",
        5,
        crm_supervisor_user,
        "Called me, identity checked.",
    )
    assert post_login(Client(), "nav", ip="10.1.1.1").status_code == 302  # the navigator is back in
    history = sup.get(admin_url(LoginUnlock, "changelist"))
    assert history.status_code == 200 and [u.pk for u in history.context["cl"].result_list] == [unlock.pk]


def test_an_unlock_needs_a_reason(navigator_user, crm_supervisor_user):
    lockout = _lock("nav")
    sup = Client()
    sup.force_login(crm_supervisor_user)
    response = _unlock(sup, lockout, reason="")
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert AccessAttempt.objects.filter(username="nav").exists() and not LoginUnlock.objects.exists()


def test_a_cm_supervisor_unlocks_cpss_but_does_not_see_navigators(navigator_user, cpss_user, cm_supervisor_user):
    nav_lock, cpss_lock = _lock("nav"), _lock("cpss")
    sup = Client()
    sup.force_login(cm_supervisor_user)
    listing = sup.get(admin_url(LoginLockout, "changelist"))
    assert [row.username for row in listing.context["cl"].result_list] == ["cpss"]
    assert _unlock(sup, nav_lock).status_code == 302  # a row outside the scope is not even selected
    assert AccessAttempt.objects.filter(username="nav").exists()
    _unlock(sup, cpss_lock)
    assert not AccessAttempt.objects.filter(username="cpss").exists()
    assert list(LoginUnlock.objects.values_list("username", flat=True)) == ["cpss"]


def test_supervisors_do_not_see_superuser_lockouts_superusers_see_all(superuser, crm_supervisor_user, navigator_user):
    _lock("root"), _lock("nav")
    sup = Client()
    sup.force_login(crm_supervisor_user)
    assert [r.username for r in sup.get(admin_url(LoginLockout, "changelist")).context["cl"].result_list] == ["nav"]
    root = Client()
    root.force_login(superuser)
    rows = root.get(admin_url(LoginLockout, "changelist")).context["cl"].result_list
    assert sorted(r.username for r in rows) == ["nav", "root"]


@pytest.mark.parametrize("who", ["navigator_user", "cpss_user"])
def test_navigators_and_cpss_cannot_see_or_unlock(request, who, crm_supervisor_user):
    user = request.getfixturevalue(who)
    lockout = _lock("crmsup")
    client = Client()
    client.force_login(user)
    assert client.get(admin_url(LoginLockout, "changelist")).status_code == 403
    assert _unlock(client, lockout).status_code == 403
    assert client.get(admin_url(LoginUnlock, "changelist")).status_code == 403
    assert AccessAttempt.objects.filter(username="crmsup").exists() and not LoginUnlock.objects.exists()


def test_nobody_edits_or_deletes_the_unlock_record(superuser, navigator_user):
    lockout = _lock("nav")
    root = Client()
    root.force_login(superuser)
    _unlock(root, lockout)
    unlock = LoginUnlock.objects.get()
    assert root.post(admin_url(LoginUnlock, "delete", unlock.pk), {"post": "yes"}).status_code == 403
    assert root.get(admin_url(LoginUnlock, "change", unlock.pk)).status_code == 200  # read-only view
    assert LoginUnlock.objects.count() == 1


def _fail_forwarded(username: str, forwarded: str) -> int:
    return (
        Client()
        .post(
            "/admin/login/",
            {"username": username, "password": "wrong-password"},
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=forwarded,
        )
        .status_code
    )


def test_a_forged_forwarded_for_header_does_not_dodge_the_lock(navigator_user):
    statuses = [_fail_forwarded("nav", f"198.51.100.{n}") for n in range(5)]
    assert statuses[-1] == 429  # all five counted against the connection's address
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.9"]


def test_behind_a_trusted_proxy_the_forwarded_address_counts(navigator_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert [_fail_forwarded("nav", "spoofed, 203.0.113.7") for _ in range(5)][-1] == 429
    assert post_login(Client(), "nav", ip="10.0.0.9").status_code == 302  # another client behind the proxy
    assert _fail_forwarded("nav", "not-an-address") == 200  # nonsense: the proxy's own address, no 500
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.9", "203.0.113.7"]
