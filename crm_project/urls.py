"""Top-level URLs: health check, admin, the REST API (/api/v1/) and its OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path, re_path

from cm_program.admin import cm_report_view
from common.api.docs import ApiDocsView, ApiSchemaView
from common.api.views import api_not_found
from common.views import health, not_found
from patients.report_views import navigation_report_view

admin.site.site_header = "Healthcare CRM"
admin.site.site_title = "Healthcare CRM"
admin.site.index_title = "Patient navigation and contingency management"

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/account/", include("accounts.urls")),
    # The reports (issue 14) sit beside the model pages, inside the admin (login, two-factor, CSRF).
    path("admin/reports/navigation/", admin.site.admin_view(navigation_report_view), name="admin-report-navigation"),
    path("admin/reports/cm/", admin.site.admin_view(cm_report_view), name="admin-report-cm"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("crm_project.api_urls")),
    path("api/schema/", ApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
]

handler404 = not_found
handler500 = "common.outage.server_error"  # a lost database is a 503, not an error page
