"""Writes for login security: lifting a lockout, rotating and revoking API tokens, two-factor enrolment."""

from __future__ import annotations

import logging

from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from accounts.models import LoginUnlock
from accounts.selectors import lockouts_visible_to

logger = logging.getLogger(__name__)

TOTP_DEVICE_NAME = "Authenticator app"


def lockout_release(*, attempt: AccessAttempt, reason: str, actor) -> LoginUnlock:
    """Lift a login lockout before its cool-off ends, and record who did it and why.

    Only superusers and the supervisors of the locked-out user's program may (``lockouts_visible_to``).
    The lockout counts failures per username + address, so every record of that pair goes (one per
    browser the attempts came from). Two supervisors unlocking at once: one unlock, one "already lifted".
    """
    if not lockouts_visible_to(actor).filter(pk=attempt.pk).exists():
        raise ValidationError("You may not unlock this login.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the login is unlocked early."})
    with transaction.atomic():
        rows = list(
            AccessAttempt.objects.select_for_update()
            .filter(username=attempt.username, ip_address=attempt.ip_address)
            .order_by("pk")
        )
        if not rows:
            raise ValidationError("This lockout was already lifted.")
        AccessAttempt.objects.filter(pk__in=[row.pk for row in rows]).delete()
        unlock = LoginUnlock.objects.create(
            username=attempt.username or "",
            ip_address=attempt.ip_address,
            failures=sum(row.failures_since_start for row in rows),
            unlocked_by=actor,
            reason=reason,
        )
    logger.info("login unlocked", extra={"username": unlock.username, "unlocked_by": actor.get_username()})
    return unlock


def api_token_rotate(*, user) -> Token:
    """Give ``user`` a new API token; the old key stops working at once. Its expiry starts again.

    The user's row is locked first, so two rotations at the same moment run one after the other (each
    answers a key; the second one's is the one that works) instead of one failing on the unique user.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
    logger.info("api token rotated", extra={"user": user.get_username()})
    return token


def api_token_revoke(*, user, actor) -> bool:
    """Delete ``user``'s API token (the user themself, or a superuser). True when there was one."""
    if actor.pk != user.pk and not actor.is_superuser:
        raise ValidationError("Only a superuser may revoke another user's API token.")
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        logger.info("api token revoked", extra={"user": user.get_username(), "revoked_by": actor.get_username()})
    return bool(deleted)


def totp_enrolment_start(*, user) -> TOTPDevice:
    """The unconfirmed authenticator-app device of ``user``, made on first call (a reload of the page
    shows the same secret). Refused when the user already has a confirmed device."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError("Two-factor login is already set up for this account.")
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_enrolment_confirm(*, user, token: str) -> TOTPDevice:
    """Confirm the started enrolment with a first code from the app; from then on logins ask for one.

    A wrong code is counted by django-otp's throttle (each failure doubles the wait before the next
    try), and that count is kept although the confirmation is refused.
    """
    token = (token or "").strip()
    if not token.isdigit():
        raise ValidationError({"token": "Enter the 6-digit code your authenticator app shows."})
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            raise ValidationError("Start the set-up first: no authenticator app is waiting to be confirmed.")
        verified = device.verify_token(token)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    if not verified:
        raise ValidationError({"token": "That code is wrong or has expired. Enter the code the app shows now."})
    logger.info("two-factor login set up", extra={"user": user.get_username()})
    return device
