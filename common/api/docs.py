"""The OpenAPI schema and Swagger UI, behind a login unless ``settings.API_DOCS_PUBLIC`` is on.

They describe every field of patient data, so production keeps them for signed-in users (the admin's
session or a token); ``make run`` (local settings) opens them. Swagger UI is drf-spectacular's split
view: its start-up script is a file of its own, so it runs under the Content-Security-Policy without
'unsafe-inline'.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission


class ApiDocsAccess(BasePermission):
    message = "Sign in to read the API schema: it describes patient data."

    def has_permission(self, request, view) -> bool:
        return bool(settings.API_DOCS_PUBLIC or (request.user and request.user.is_authenticated))


class ApiSchemaView(SpectacularAPIView):
    permission_classes = [ApiDocsAccess]


class ApiDocsView(SpectacularSwaggerSplitView):
    permission_classes = [ApiDocsAccess]

    def handle_exception(self, exc):
        # A person opening the docs in a browser is sent to the login page and comes back after it.
        is_page = self.request.GET.get("script") is None
        if is_page and isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
