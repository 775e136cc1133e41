"""CM programs and their points schedules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet
from cm_program.filters import (
    CMProgramFilter,
)
from cm_program.models import (
    CMProgram,
)
from common.api.permissions import action_permission
from common.api.serializers import refuse_body


@extend_schema_view(
    list=extend_schema(summary="List CM programs"),
    retrieve=extend_schema(summary="A CM program and its reinforcement schedule"),
    create=extend_schema(
        summary="Create a CM program",
        description="409 with `existing_id` when a program of this name (ignoring case) exists.",
        request=s.CMProgramInputSerializer,
        responses={201: s.CMProgramSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a CM program or its schedule",
        request=s.CMProgramInputSerializer,
        responses=s.CMProgramSerializer,
    ),
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
        data = self.input(s.CMProgramInputSerializer)
        program = services.cm_program_create(actor=request.user, **data)
        return self.respond(program, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        program = self.get_object()
        data = self.input(s.CMProgramInputSerializer, partial=True)
        program = services.cm_program_update(program=program, actor=request.user, **data)
        return self.respond(program)

    def destroy(self, request, *args, **kwargs):
        program = self.get_object()
        refuse_body(request)
        services.cm_program_update(program=program, actor=request.user, is_active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Reactivate a CM program", request=None, responses=s.CMProgramSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmprogram")],
    )
    def restore(self, request, pk=None):
        program = self.get_object()
        refuse_body(request)
        program = services.cm_program_update(program=program, actor=request.user, is_active=True)
        return self.respond(program)
