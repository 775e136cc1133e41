"""CM programs and their points schedules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet, cm_schema
from cm_program.filters import (
    CMProgramFilter,
)
from cm_program.models import (
    CMProgram,
)
from common.api.permissions import action_permission


@cm_schema(
    response=s.CMProgramSerializer,
    list_summary="List CM programs",
    retrieve_summary="A CM program and its reinforcement schedule",
    create_summary="Create a CM program",
    create_description="409 with `existing_id` when a program of this name (ignoring case) exists.",
    create_request=s.CMProgramInputSerializer,
    update_summary="Change a CM program or its schedule",
    update_request=s.CMProgramInputSerializer,
    destroy=extend_schema(
        summary="Deactivate a CM program (soft delete)",
        description="Sets `is_active` to false: no new enrollments; current ones go on. Undo with POST .../restore/.",
        responses={204: None},
    ),
)
class CMProgramViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    model = CMProgram
    scope = staticmethod(selectors.cm_programs_visible_to)
    serializer_class = s.CMProgramSerializer
    filterset_class = CMProgramFilter
    search_fields = ("name", "description")
    ordering_fields = ("name", "created_at")
    ordering = ("name",)

    def create(self, request, *args, **kwargs):
        return self.create_with(services.cm_program_create, s.CMProgramInputSerializer)

    def partial_update(self, request, *args, **kwargs):
        return self.update_with(services.cm_program_update, s.CMProgramInputSerializer, target="program")

    def destroy(self, request, *args, **kwargs):
        return self.set_with(services.cm_program_update, target="program", deleted=True, is_active=False)

    @extend_schema(summary="Reactivate a CM program", request=None, responses=s.CMProgramSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmprogram")],
    )
    def restore(self, request, pk=None):
        return self.set_with(services.cm_program_update, target="program", is_active=True)
