"""The REST API under /api/v1/: each app contributes its routes from ``<app>/api/urls.py``."""

from django.urls import include, path

urlpatterns = [
    path("", include("people.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("journeys.api.urls")),
    path("cm/", include("cm_program.api.urls")),
    path("auth/", include("accounts.api.urls")),
]
