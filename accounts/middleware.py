"""Send a signed-in admin user who owes a second factor to enrolment or to the code page.

Active only when ``settings.REQUIRE_2FA`` is on. Applies to an authenticated session that django-otp
has not verified (``request.user.is_verified()``, from ``django_otp.middleware.OTPMiddleware``):

- a user with a confirmed device (required or enrolled by choice) is asked for a code;
- a superuser or supervisor without one is sent to set it up;
- anyone else passes.

Only admin pages are concerned here; the API's session login is refused by
``accounts.authentication.VerifiedSessionAuthentication``, and tokens are not concerned.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from accounts.selectors import has_two_factor_device, two_factor_required

# Pages a user in the middle of two-factor login may still open.
_OPEN_URL_NAMES = ("accounts:two_factor_setup", "accounts:two_factor_verify", "admin:logout", "admin:jsi18n")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        redirect_to = self._redirect_for(request) if settings.REQUIRE_2FA else None
        return redirect(redirect_to) if redirect_to else self.get_response(request)

    def _redirect_for(self, request) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not request.path.startswith(reverse("admin:index")):
            return None
        if user.is_verified() or request.path in {reverse(name) for name in _OPEN_URL_NAMES}:
            return None
        if has_two_factor_device(user):
            page = "accounts:two_factor_verify"
        elif two_factor_required(user):
            page = "accounts:two_factor_setup"
        else:
            return None
        return f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}"
