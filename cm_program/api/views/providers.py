"""CM providers (CPSS staff)."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet, cm_schema
from cm_program.filters import (
    CMProviderFilter,
)
from cm_program.models import (
    CMEnrollment,
    CMProvider,
    CMStatus,
    ProviderStatus,
)
from common.api.permissions import action_permission


@cm_schema(
    response=s.CMProviderSerializer,
    list_summary="List CM providers (CPSS staff)",
    retrieve_summary="A CM provider",
    create_summary="Create a CM provider",
    create_description="409 with `existing_id` when the email or the login already belongs to a provider.",
    create_request=s.CMProviderInputSerializer,
    update_summary="Change a CM provider",
    update_description="`max_caseload` cannot drop below the active enrollments held; a CPSS holding active "
    "enrollments cannot be made inactive (400).",
    update_request=s.CMProviderInputSerializer,
    destroy=extend_schema(
        summary="Deactivate a CM provider (soft delete)",
        description="Sets `status` to `inactive`; the row stays. Undo with POST .../restore/. Refused (400) "
        "while the provider holds active enrollments: reassign them first.",
        responses={204: None},
    ),
)
class CMProviderViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    model = CMProvider
    scope = staticmethod(selectors.cm_providers_visible_to)
    serializer_class = s.CMProviderSerializer
    filterset_class = CMProviderFilter
    search_fields = ("first_name", "last_name", "email", "credentials")
    ordering_fields = ("last_name", "first_name", "hire_date", "max_caseload", "active_enrollments", "created_at")
    ordering = ("last_name", "first_name")

    def base_queryset(self):
        # A subquery per listed provider (cm_enrollments_caseload_idx), not a join of every enrollment
        # grouped before the page is cut: 522 ms -> a few ms for page 1 at 55,000 enrollments.
        active = (
            CMEnrollment.objects.filter(cpss_provider=OuterRef("pk"), status=CMStatus.ACTIVE)
            .order_by()
            .values("cpss_provider")
            .annotate(n=Count("*"))  # COUNT(*): cm_enrollments_caseload_idx alone answers it
            .values("n")
        )
        return CMProvider.objects.select_related("user").annotate(
            active_enrollments=Coalesce(Subquery(active, output_field=IntegerField()), Value(0))
        )

    def create(self, request, *args, **kwargs):
        return self.create_with(services.cm_provider_create, s.CMProviderInputSerializer)

    def partial_update(self, request, *args, **kwargs):
        return self.update_with(services.cm_provider_update, s.CMProviderInputSerializer, target="provider")

    def destroy(self, request, *args, **kwargs):
        return self.set_with(
            services.cm_provider_update, target="provider", deleted=True, status=ProviderStatus.INACTIVE
        )

    @extend_schema(summary="Reactivate a CM provider", request=None, responses=s.CMProviderSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmprovider")],
    )
    def restore(self, request, pk=None):
        return self.set_with(services.cm_provider_update, target="provider", status=ProviderStatus.ACTIVE)

    @extend_schema(
        summary="Caseloads",
        description="Per CPSS: active enrollments against `max_caseload`, places left, active patients without "
        "a recorded behaviour in the last 7 days, net points this week. A CPSS sees their own row.",
        responses=s.CMCaseloadSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def caseloads(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        ids = [provider.pk for provider in page]
        rows = {
            row.provider.pk: row
            for row in selectors.cpss_caseload_summary(providers=CMProvider.objects.filter(pk__in=ids))
        }
        data = s.CMCaseloadSerializer([rows[pk] for pk in ids], many=True).data
        return self.get_paginated_response(data)
