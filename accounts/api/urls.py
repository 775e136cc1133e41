"""/api/v1/auth/...: the caller's own token. Paths work with and without the trailing slash."""

from django.urls import re_path

from accounts.api.views import ApiTokenRotateView, ApiTokenView

urlpatterns = [
    re_path(r"^token/?$", ApiTokenView.as_view(), name="api-token"),
    re_path(r"^token/rotate/?$", ApiTokenRotateView.as_view(), name="api-token-rotate"),
]
