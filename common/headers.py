"""Security headers that Django does not set by itself (the CSP is django-csp's, in settings).

- ``Permissions-Policy`` on every response: the browser features in ``settings.PERMISSIONS_POLICY``
  (camera, microphone, geolocation, ...) are off for the app and anything it embeds.
- ``Cache-Control: no-store`` on every response under ``/api/``: API answers carry patient data (and
  token keys), and neither the browser nor a proxy may keep a copy, errors included.
"""

from __future__ import annotations

from django.conf import settings


def permissions_policy() -> str:
    return ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", permissions_policy())
        if request.path.startswith("/api/"):
            response["Cache-Control"] = "no-store"
        return response
