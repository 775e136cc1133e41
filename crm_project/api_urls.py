"""The REST API under /api/v1/: each app contributes its routes from ``<app>/api/urls.py``."""

from django.urls import include, path, re_path

from cm_program.api.views import CMProgramReportView

urlpatterns = [
    path("", include("people.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("journeys.api.urls")),
    path("cm/", include("cm_program.api.urls")),
    path("auth/", include("accounts.api.urls")),
    # Reports across an app's records (issue 14): /api/v1/reports/<report>/.
    re_path(r"^reports/cm/?$", CMProgramReportView.as_view(), name="report-cm"),
]
