"""Reads for login security: who must use two-factor, which lockouts a supervisor sees, token state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django_otp import user_has_device
from rest_framework.authtoken.models import Token

from common import roles

# Each supervisor role looks after the logins of its own program's staff, never those of the other
# program nor a superuser's.
SUPERVISED_ROLES: dict[str, tuple[str, ...]] = {
    roles.CRM_SUPERVISORS: (roles.PATIENT_NAVIGATORS, roles.CRM_SUPERVISORS),
    roles.CM_SUPERVISORS: (roles.CPSS, roles.CM_SUPERVISORS),
}


def _group_names(user) -> frozenset[str]:
    """The user's group names, read once per user object (a request's user is asked several times)."""
    return roles.group_names(user)


def is_supervisor(user) -> bool:
    return bool(user.is_authenticated and _group_names(user) & set(SUPERVISED_ROLES))


def two_factor_required(user) -> bool:
    """Superusers and supervisors must log in with a second factor when ``settings.REQUIRE_2FA`` is on."""
    if not (settings.REQUIRE_2FA and user.is_authenticated and user.is_active):
        return False
    return bool(user.is_superuser or is_supervisor(user))


def has_two_factor_device(user) -> bool:
    """A confirmed device (an unconfirmed one is an enrolment that was started and not finished)."""
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


def _scoped_by_username(user, queryset: QuerySet) -> QuerySet:
    """All rows for superusers; for supervisors the rows of their program's staff (by username, as a
    lockout names the login as it was typed); none for anyone else."""
    if user.is_superuser:
        return queryset
    supervised = {role for group in _group_names(user) for role in SUPERVISED_ROLES.get(group, ())}
    if not supervised:
        return queryset.none()
    staff = get_user_model().objects.filter(groups__name__in=supervised, is_superuser=False)
    return queryset.filter(username__in=staff.values("username"))


def lockouts_visible_to(user) -> QuerySet[AccessAttempt]:
    """Failed-login records a user may see and lift."""
    from accounts.models import LoginLockout

    return _scoped_by_username(user, LoginLockout.objects.all())


def unlocks_visible_to(user) -> QuerySet:
    """The record of lifted lockouts, with the same scope as the lockouts."""
    from accounts.models import LoginUnlock

    return _scoped_by_username(user, LoginUnlock.objects.select_related("unlocked_by"))


def lockout_ends_at(attempt: AccessAttempt) -> datetime | None:
    """When the lockout of this record lifts by itself, or None when it is not locked (too few failures
    or the cool-off has passed)."""
    if attempt.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return None
    ends = attempt.attempt_time + settings.AXES_COOLOFF_TIME
    return ends if ends > timezone.now() else None


@dataclass(frozen=True)
class TokenStatus:
    created: datetime
    expires: datetime

    @property
    def expired(self) -> bool:
        return self.expires <= timezone.now()


def token_ttl() -> timedelta:
    return timedelta(days=settings.API_TOKEN_TTL_DAYS)


def token_expires_at(token: Token) -> datetime:
    return token.created + token_ttl()


def api_token_status(user) -> TokenStatus | None:
    token = Token.objects.filter(user=user).only("created").first()
    if token is None:
        return None
    return TokenStatus(created=token.created, expires=token_expires_at(token))
