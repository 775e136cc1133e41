"""Admin of the CM providers (CPSS staff)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import path

from cm_program import admin_views, services
from cm_program.admin._common import ServiceAdmin, _actor
from cm_program.models import (
    CMEnrollment,
    CMProvider,
    CMStatus,
)


@admin.register(CMProvider)
class CMProviderAdmin(ServiceAdmin):
    change_list_template = "admin/cm_program/cmprovider/change_list.html"
    list_display = ("last_name", "first_name", "role", "credentials", "status", "max_caseload", "active_count", "user")
    list_select_related = ("user",)
    list_filter = ("role", "status", "credentials")
    search_fields = ("last_name", "first_name", "email", "phone")
    autocomplete_fields = ("user", "person")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Active enrollments", ordering="_active")
    def active_count(self, obj) -> int:
        return obj._active

    def get_queryset(self, request):
        # One index-only COUNT(*) per listed provider (cm_enrollments_caseload_idx), not a join of every enrollment
        # grouped per provider before the page is cut, nor the same join under the list's count and its sidebar's
        # list of credentials (docs/PERFORMANCE.md, "Admin pages at full size, round 2").
        active = (
            CMEnrollment.objects.filter(cpss_provider=OuterRef("pk"), status=CMStatus.ACTIVE)
            .order_by()
            .values("cpss_provider")
            .annotate(n=Count("*"))
            .values("n")
        )
        counted = Coalesce(Subquery(active, output_field=IntegerField()), Value(0))
        return super().get_queryset(request).annotate(_active=counted)

    def get_readonly_fields(self, request, obj=None):
        # Logins and Persons are managed by superusers (CM supervisors do not see the people app).
        if request.user.is_superuser:
            return self.readonly_fields
        return (*self.readonly_fields, "user", "person")

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("caseloads/", self.admin_site.admin_view(self.caseloads_view), name=f"{info}_caseloads"),
            path("caseloads/csv/", self.admin_site.admin_view(self.caseloads_csv_view), name=f"{info}_caseloads_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"may_see_caseloads": admin_views.may_see_caseloads(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def caseloads_view(self, request):
        """The CPSS caseload page (``selectors.cpss_caseload_summary``): CM supervisors and superusers."""
        return admin_views.caseloads_page(self, request)

    def caseloads_csv_view(self, request):
        return admin_views.caseloads_csv(self, request)

    def create(self, request, form):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.PROVIDER_FIELDS}
        return services.cm_provider_create(actor=_actor(request), **data)

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.PROVIDER_FIELDS}
        return services.cm_provider_update(provider=obj, actor=_actor(request), **changes)
