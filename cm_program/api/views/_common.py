"""Pieces shared by the CM API views: ordering, filter backends, the scope permission, the base viewset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from cm_program import selectors
from common.api.search import CrmSearchFilter
from common.api.serializers import refuse_body
from common.api.views import UUIDLookupMixin
from common.idempotency import IdempotentViewMixin
from common.phi_access import PHIAccessViewMixin


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` plus the primary key as the last key, so that pages never overlap or skip rows
    when the requested field has ties (many patients share a last name or a status)."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if ordering:
            ordering = list(ordering)
            if not {"pk", "-pk", "id", "-id"} & set(ordering):
                ordering.append("pk")
            return queryset.order_by(*ordering)
        return queryset


FILTER_BACKENDS = [DjangoFilterBackend, CrmSearchFilter, StableOrderingFilter]


class SeesAllCM(BasePermission):
    """CM supervisors and superusers: the views over every CPSS's patients (the dual-enrollment list)."""

    message = "Only CM supervisors see this list."

    def has_permission(self, request, view) -> bool:
        return selectors.cm_scope(request.user) == "all"


class CMViewSet(IdempotentViewMixin, PHIAccessViewMixin, UUIDLookupMixin, viewsets.GenericViewSet):
    """Lists and reads scoped by ``scope``; updates by PATCH only (PUT is 405: partial updates cannot
    accidentally blank fields a script did not send). POSTs are idempotent with a key; records of
    patient data that a GET shows go to the PHI access log."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends = FILTER_BACKENDS
    scope: Any = None
    model: Any = None

    def check_permissions(self, request):
        # A method the resource does not have is 405 for every CM user (not 403 for those who lack
        # the model permission it would need); people without CM access still get 403, anonymous 401.
        if self.action is None and request.method != "OPTIONS" and selectors.cm_scope(request.user) != "none":
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    def base_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        return self.scope(self.request.user, self.base_queryset())

    def input(self, serializer_class, *, partial: bool = False) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def respond(self, obj, *, code: int = status.HTTP_200_OK) -> Response:
        # Re-read through the scoped queryset: the response shows what a GET would show.
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    # The write actions of every CM resource have one shape: the serializer checks the body's shape,
    # the service applies the rules, and the answer is what a GET shows. ``target`` is the keyword
    # under which the service takes the record (``program=``, ``provider=``, ...).

    def create_with(self, service: Callable[..., Any], serializer_class) -> Response:
        """POST: 201 with the new record."""
        data = self.input(serializer_class)
        return self.respond(service(actor=self.request.user, **data), code=status.HTTP_201_CREATED)

    def update_with(self, service: Callable[..., Any], serializer_class, *, target: str) -> Response:
        """PATCH: the record is looked up (404 out of scope) before its body is validated (400)."""
        obj = self.get_object()
        data = self.input(serializer_class, partial=True)
        return self.respond(service(**{target: obj}, actor=self.request.user, **data))

    def set_with(self, service: Callable[..., Any], *, target: str, deleted: bool = False, **fields: Any) -> Response:
        """DELETE (soft: ``deleted``, 204) and POST .../restore/ (200 with the record): fixed ``fields``
        through the update service; a body is refused, since none is read."""
        obj = self.get_object()
        refuse_body(self.request)
        obj = service(**{target: obj}, actor=self.request.user, **fields)
        return Response(status=status.HTTP_204_NO_CONTENT) if deleted else self.respond(obj)


def cm_schema(
    *,
    response,
    list_summary: str,
    retrieve_summary: str,
    create_summary: str,
    create_request,
    update_summary: str,
    update_request,
    list_description: str | None = None,
    create_description: str | None = None,
    update_description: str | None = None,
    **more: Any,
):
    """The OpenAPI text of a CM viewset's list, retrieve, create (201) and partial update; ``more``
    names the schemas of other actions (``destroy=extend_schema(...)``)."""
    return extend_schema_view(
        list=extend_schema(summary=list_summary, description=list_description),
        retrieve=extend_schema(summary=retrieve_summary),
        create=extend_schema(
            summary=create_summary,
            description=create_description,
            request=create_request,
            responses={201: response},
        ),
        partial_update=extend_schema(
            summary=update_summary,
            description=update_description,
            request=update_request,
            responses=response,
        ),
        **more,
    )


def _default_program(data: dict[str, Any]):
    program = data.get("cm_program") or selectors.cm_program_sole_active()
    if program is None:
        raise ValidationError({"cm_program": ["This field is required: more than one program (or none) is active."]})
    return program
