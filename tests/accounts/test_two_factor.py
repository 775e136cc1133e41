"""Two-factor login (django-otp TOTP) for superusers and supervisors when REQUIRE_2FA is on."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from tests.accounts.conftest import confirmed_device, post_login, totp_code, wrong_code

pytestmark = pytest.mark.django_db

SETUP_URL = "/admin/account/two-factor/"
VERIFY_URL = "/admin/account/two-factor/verify/"


@pytest.fixture
def require_2fa(settings):
    settings.REQUIRE_2FA = True


def _logged_in(username: str, **kwargs) -> Client:
    client = Client()
    response = post_login(client, username, **kwargs)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


# --- Required and not yet enrolled: sent to enrolment --------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "crm_supervisor_user", "cm_supervisor_user"])
def test_required_user_without_a_device_is_sent_to_enrolment(request, require_2fa, who):
    user = request.getfixturevalue(who)
    client = _logged_in(user.username)  # the password is enough to start: there is no code to ask for yet
    for page in ("/admin/", "/admin/patients/patient/", "/admin/cm_program/cmenrollment/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(SETUP_URL + "?next=")
    # The API refuses the unverified session too; enrolment is the way on.
    api = client.get("/api/v1/cm/enrollments/")
    assert api.status_code == 403 and "Two-factor login required" in api.json()["error"]["message"]


def test_enrolment_shows_a_local_qr_code_and_refuses_a_wrong_first_code(require_2fa, crm_supervisor_user):
    client = _logged_in("crmsup")
    page = client.get(SETUP_URL + "?next=/admin/patients/patient/")
    assert page.status_code == 200
    body = page.content.decode()
    device = TOTPDevice.objects.get(user=crm_supervisor_user)
    assert not device.confirmed
    assert "<svg" in body and "<path" in body and "<img" not in body  # drawn here, nothing fetched
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', body).group(1)
    assert f"secret={secret}" in device.config_url and "otpauth://totp/" in body
    assert client.get(SETUP_URL).content.decode().count(secret) >= 1  # a reload shows the same secret

    refused = client.post(SETUP_URL, {"token": wrong_code(device), "next": "/admin/patients/patient/"})
    assert refused.status_code == 200 and "That code is wrong or has expired" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/admin/").status_code == 302  # still not through


def test_a_right_first_code_confirms_and_lets_the_user_in(require_2fa, crm_supervisor_user):
    client = _logged_in("crmsup")
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=crm_supervisor_user)
    response = client.post(SETUP_URL, {"token": totp_code(device), "next": "/admin/patients/patient/"})
    assert response.status_code == 302 and response["Location"] == "/admin/patients/patient/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200  # the session is verified for the API too


# --- Enrolled: the login asks for the code ---------------------------------------------------------------


def test_login_without_the_code_is_refused(require_2fa, crm_supervisor_user):
    confirmed_device(crm_supervisor_user)
    response = post_login(Client(), "crmsup")
    assert response.status_code == 200
    assert "Enter the code of your authenticator app" in response.content.decode()


def test_login_with_a_wrong_code_is_refused_and_counts_as_a_failure(require_2fa, crm_supervisor_user):
    device = confirmed_device(crm_supervisor_user)
    client = Client()
    response = post_login(client, "crmsup", code=wrong_code(device))
    assert response.status_code == 200 and "That authentication code is wrong" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username="crmsup").failures_since_start == 1
    assert client.get("/admin/").status_code == 302


def test_guessing_codes_with_the_right_password_locks_the_login(crm_supervisor_user, no_otp_slowdown):
    device = confirmed_device(crm_supervisor_user)
    client = Client()
    statuses = [post_login(client, "crmsup", code=wrong_code(device)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert post_login(client, "crmsup", code=totp_code(device)).status_code == 429


def test_login_with_the_right_code_gets_in(require_2fa, crm_supervisor_user):
    device = confirmed_device(crm_supervisor_user)
    client = _logged_in("crmsup", code=totp_code(device))
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200
    assert client.session["otp_device_id"] == device.persistent_id


def test_the_same_code_cannot_be_replayed(require_2fa, crm_supervisor_user):
    device = confirmed_device(crm_supervisor_user)
    code = totp_code(device)
    _logged_in("crmsup", code=code)
    assert post_login(Client(), "crmsup", code=code).status_code == 200  # refused: already used


def test_an_unverified_session_of_an_enrolled_user_is_asked_for_the_code(
    require_2fa, crm_supervisor_user, no_otp_slowdown
):
    device = confirmed_device(crm_supervisor_user)
    client = Client()
    client.force_login(crm_supervisor_user)  # a session that never gave a code
    response = client.get("/admin/patients/patient/")
    assert response.status_code == 302 and response["Location"].startswith(VERIFY_URL + "?next=")
    assert client.post(VERIFY_URL, {"token": wrong_code(device)}).status_code == 200
    verified = client.post(VERIFY_URL, {"token": totp_code(device, steps_ahead=1), "next": "/admin/"})
    assert verified.status_code == 302 and verified["Location"] == "/admin/"
    assert client.get("/admin/patients/patient/").status_code == 200


# --- Who is not concerned --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["navigator_user", "cpss_user"])
def test_roles_that_are_not_required_are_unaffected(request, require_2fa, who):
    user = request.getfixturevalue(who)
    client = _logged_in(user.username)
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/auth/token/").status_code == 404  # the session works for the API (no token yet)
    assert "It is optional for your role" in client.get("/admin/account/").content.decode()
    assert TOTPDevice.objects.count() == 0


def test_with_the_setting_off_supervisors_are_unaffected(settings, superuser, cm_supervisor_user):
    settings.REQUIRE_2FA = False
    for username in ("root", "cmsup"):
        client = _logged_in(username)
        assert client.get("/admin/").status_code == 200
        assert client.get("/api/v1/cm/enrollments/").status_code == 200
        assert "It is optional for your role" in client.get("/admin/account/").content.decode()


def test_token_requests_of_a_required_user_are_unaffected(require_2fa, cm_supervisor_user):
    token = Token.objects.create(user=cm_supervisor_user)
    response = Client().get("/api/v1/cm/enrollments/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    session = Client()
    session.force_login(cm_supervisor_user)  # the same user's browser session, without a second factor
    assert session.get("/api/v1/cm/enrollments/").status_code == 403


def test_a_user_who_is_not_required_may_enrol_and_then_logs_in_with_a_code(navigator_user, settings):
    settings.REQUIRE_2FA = False
    client = _logged_in("nav")
    assert "Set up two-factor login" in client.get("/admin/account/").content.decode()
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=navigator_user)
    assert client.post(SETUP_URL, {"token": totp_code(device)}).status_code == 302
    assert post_login(Client(), "nav").status_code == 200  # from now on the code is asked for
    assert post_login(Client(), "nav", code=totp_code(device, steps_ahead=1)).status_code == 302


def test_an_enrolled_user_cannot_start_a_second_enrolment(require_2fa, crm_supervisor_user):
    device = confirmed_device(crm_supervisor_user)
    client = _logged_in("crmsup", code=totp_code(device))
    response = client.get(SETUP_URL)
    assert response.status_code == 302 and response["Location"] == "/admin/account/"
    assert TOTPDevice.objects.filter(user=crm_supervisor_user).count() == 1
