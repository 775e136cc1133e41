"""DRF authentication: DRF's tokens with an expiry, and sessions that honour two-factor login."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication

from accounts.selectors import has_two_factor_device, token_expires_at, two_factor_required


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``; a key older than ``API_TOKEN_TTL_DAYS`` answers 401 and says so.

    A token's age counts from when it was issued or last rotated (``POST /api/v1/auth/token/rotate/``).
    """

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        expires = token_expires_at(token)
        if expires <= timezone.now():
            raise exceptions.AuthenticationFailed(
                f"API token expired on {expires:%Y-%m-%d %H:%M} UTC. Get a new one from your account page "
                "in the admin (or ask a superuser)."
            )
        return user, token


class VerifiedSessionAuthentication(SessionAuthentication):
    """The admin's session login, refused for a user who owes a second factor that the session lacks.

    Scripts with a token are not concerned; this only covers a browser signed in to the admin.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not settings.REQUIRE_2FA:
            return result
        user = result[0]
        verified = getattr(request._request.user, "is_verified", lambda: False)()
        if not verified and (two_factor_required(user) or has_two_factor_device(user)):
            raise exceptions.PermissionDenied(
                "Two-factor login required: sign in to the admin with your authentication code first."
            )
        return result


class VerifiedSessionScheme(SessionScheme):
    """The OpenAPI schema describes the session login as drf-spectacular describes Django's."""

    target_class = "accounts.authentication.VerifiedSessionAuthentication"
