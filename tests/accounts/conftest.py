"""Helpers for the login-security tests: logging in through the real admin login page."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

LOGIN_URL = "/admin/login/"


def post_login(client: Client, username: str, password: str = "pw", *, code: str = "", ip: str = "127.0.0.1"):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "otp_token": code, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or ``steps_ahead`` 30-second steps later: a device refuses a
    code it has already accepted, so a second login in the same step uses the next one)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """A code that is none of the ones the device accepts around now."""
    accepted = {totp_code(device, steps_ahead=k) for k in range(-2, 3)}
    return next(f"{n:06d}" for n in range(1, 100) if f"{n:06d}" not in accepted)


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


@pytest.fixture
def no_otp_slowdown(settings):
    """django-otp makes a device wait 1 s, 2 s, 4 s... after each wrong code; tests do not wait."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
