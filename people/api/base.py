"""Building blocks of the patient-navigation API (``people``, ``patients``, ``journeys``).

* ``NavigationViewSetMixin``: UUID lookups; list filters apply to lists only, so a record is found by
  its id whatever a list would show; a method the resource does not offer is a 405 for every role.
* ``ServiceUpdateMixin``: PUT / PATCH check the body's shape and call the model's update service.
* ``SoftDeleteViewSetMixin``: ``DELETE`` soft-deletes through the model's service (204) with an
  optional reason, ``POST .../{id}/restore/`` undoes it. Soft-deleted rows are visible (in lists with
  ``?is_active=false``, and by id) only to the users who may restore them; to everyone else they are
  gone (404). Retired lookups are the exception: every reader still sees them.
* ``SoftDeleteFilterSet``: ``is_active`` / ``include_inactive``; lists hide deleted rows by default.
* Strict filters: a malformed boolean or date in a query string is a 400 naming the parameter, never
  silently ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.permissions import action_permission
from common.api.serializers import (
    REPRESENTATION_FIELDS,
    UNKNOWN_FIELD,
    StrictCharField,
    StrictInputSerializer,
    refuse_body,
    representation_fields,
)
from common.api.views import UUIDLookupMixin
from common.idempotency import IdempotentViewMixin
from common.phi_access import PHIAccessViewMixin

REASON_MAX_LENGTH = 1000
NOTES_MAX_LENGTH = 10_000


# --- Filters ---------------------------------------------------------------------------------------------


class StrictBooleanField(forms.Field):
    _TRUE = frozenset({"true", "1", "yes"})
    _FALSE = frozenset({"false", "0", "no"})

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self._TRUE:
            return True
        if text in self._FALSE:
            return False
        raise ValidationError("Give true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """``true`` / ``false`` (also 1/0, yes/no); anything else is a 400, not an ignored filter."""

    field_class = StrictBooleanField


class DateTimeOrDateField(forms.Field):
    def to_python(self, value: Any) -> dt.date | dt.datetime | None:
        if value in (None, ""):
            return None
        text = str(value).strip()
        try:
            parsed = parse_date(text) or parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Give a date (2026-01-31) or a date and time (2026-01-31T14:00:00Z).", code="invalid")
        if isinstance(parsed, dt.datetime) and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed


@extend_schema_field(OpenApiTypes.STR)
class DateTimeBoundFilter(django_filters.Filter):
    """One end of a date-time range. A plain date covers its whole day: ``..._after=2026-01-31`` starts at
    the beginning of that day, ``..._before=2026-01-31`` ends at its end (both ends inclusive)."""

    field_class = DateTimeOrDateField

    def __init__(self, *args, bound: str, **kwargs) -> None:
        if bound not in ("after", "before"):
            raise ValueError(bound)
        self.bound = bound
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if isinstance(value, dt.datetime):
            lookup = "gte" if self.bound == "after" else "lte"
            return qs.filter(**{f"{self.field_name}__{lookup}": value})
        day = value if self.bound == "after" else value + dt.timedelta(days=1)
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        lookup = "gte" if self.bound == "after" else "lt"
        return qs.filter(**{f"{self.field_name}__{lookup}": start})


class SoftDeleteFilterSet(django_filters.FilterSet):
    """Lists show active rows unless asked otherwise. Who may see deleted rows at all is the viewset's
    queryset's decision (``SoftDeleteViewSetMixin.visible``); these filters only narrow it."""

    is_active = StrictBooleanFilter(help_text="`false`: only deleted (inactive) rows; `true`: only active rows.")
    include_inactive = StrictBooleanFilter(
        method="filter_include_inactive", help_text="`true`: active and deleted rows together."
    )

    def filter_include_inactive(self, queryset, name, value):
        return queryset  # read in filter_queryset

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        if data.get("is_active") is None and not data.get("include_inactive"):
            queryset = queryset.filter(is_active=True)
        return super().filter_queryset(queryset)


# --- Serializers -----------------------------------------------------------------------------------------


class NamedChoiceField(serializers.ChoiceField):
    """A choice field whose OpenAPI enum is the component ``enum_name``. Several resources have a field of
    the same name (``status``) with different choice sets; one name per set keeps the schema unambiguous
    for client generators."""

    def __init__(self, *args, enum_name: str, **kwargs) -> None:
        self.enum_name = enum_name
        super().__init__(*args, **kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = build_choice_field(field)
        schema.pop("x-spec-enum-id", None)
        schema["enum"] = [value for value in schema["enum"] if value not in ("", None)]
        component = ResolvedComponent(
            name=field.enum_name, type=ResolvedComponent.SCHEMA, object=field.enum_name, schema=schema
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class ReasonSerializer(StrictInputSerializer):
    reason = StrictCharField(
        max_length=REASON_MAX_LENGTH,
        required=False,
        allow_blank=True,
        multiline=True,
        help_text="Why the record is deleted. Optional: the API records a default naming the user.",
    )


REASON_PARAMETER = OpenApiParameter(
    "reason", str, OpenApiParameter.QUERY, required=False, description="Why (alternative to a JSON body)."
)


class PersonDetailsInput(StrictInputSerializer):
    """The Person behind a patient, lead or physician, sent flat in the same body (as the original API
    did). Shape only: normalisation (phone to E.164, email case) and the returning-person rule are the
    services'."""

    first_name = StrictCharField(max_length=150)
    last_name = StrictCharField(max_length=150)
    email = serializers.EmailField(
        max_length=254,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="How a returning person is recognised (ignoring case and surrounding spaces).",
    )
    phone = StrictCharField(
        max_length=32,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Any common format; stored in E.164 (numbers without a country code are read as US).",
    )
    date_of_birth = serializers.DateField(required=False, allow_null=True)


PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")


def flatten_person(
    data: Any, allowed: tuple[str, ...] = PERSON_FIELDS, *, sent_back: frozenset[str] = frozenset()
) -> Any:
    """Accept the person's details nested (``{"person": {...}}``) as well as flat; flat is canonical.

    Other keys under ``person`` are refused by name (``person.id``), except those of a GET body sent back
    (``sent_back``, see ``StrictInputSerializer``)."""
    if not isinstance(data, Mapping) or "person" not in data:
        return data
    if not isinstance(data["person"], Mapping):
        if "person" in sent_back:
            return {key: value for key, value in data.items() if key != "person"}
        raise serializers.ValidationError({"person": ["Give the person's details as an object, or flat."]})
    flat = {key: value for key, value in data.items() if key != "person"}
    errors = {}
    for key, value in data["person"].items():
        if key not in allowed:
            if f"person.{key}" not in sent_back:
                errors[f"person.{key}"] = [UNKNOWN_FIELD]
            continue
        if key in flat and flat[key] != value:
            errors[key] = ["Given twice (flat and under 'person') with different values."]
        flat[key] = value
    if errors:
        raise serializers.ValidationError(errors)
    return flat


# --- Viewsets --------------------------------------------------------------------------------------------


def validated(serializer_class, data: Any, *, partial: bool = False, context: dict | None = None) -> dict[str, Any]:
    """The request body checked for shape by ``serializer_class`` (400 naming each field otherwise)."""
    serializer = serializer_class(data=data, partial=partial, context=context or {})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class NavigationViewSetMixin(IdempotentViewMixin, PHIAccessViewMixin, UUIDLookupMixin):
    """Shared behaviour of the patient-navigation viewsets (including idempotent POSTs and the PHI
    access log of the records they show)."""

    def check_permissions(self, request):
        # A method this resource does not offer is a 405 for anyone signed in, whatever their role (the
        # model permissions would otherwise answer 403 to some roles and 405 to others).
        if request.user and request.user.is_authenticated and not hasattr(self, request.method.lower()):
            self.http_method_not_allowed(request)
        super().check_permissions(request)

    def filter_queryset(self, queryset):
        # Filters, search and ordering shape lists. A record asked for by id (detail, nested actions)
        # is found whatever a list would show, so ?is_active=false on a detail URL changes nothing.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def reload(self, instance):
        """The record as the list shows it (related rows loaded), after a service changed it."""
        return self.get_queryset().get(pk=instance.pk)


class ServiceUpdateMixin:
    """PUT / PATCH: ``update_serializer_class`` checks the shape of what the body names and
    ``perform_service_update`` calls the service; the answer is the record.

    Both change only the fields the body names. The original API's PUT took partial bodies, and scripts
    written for it send them; a full body (a GET body sent back) works the same way."""

    update_serializer_class: ClassVar[type[serializers.Serializer]]

    def perform_service_update(self, instance, data: dict[str, Any]):
        raise NotImplementedError

    def update(self, request, *args, **kwargs):
        kwargs.pop("partial", None)
        instance = self.get_object()
        # A GET body may be sent back: its read-only fields are dropped; anything else unknown is a 400.
        context = {REPRESENTATION_FIELDS: representation_fields(self.get_serializer())}
        serializer = self.update_serializer_class(instance, data=request.data, partial=True, context=context)
        serializer.is_valid(raise_exception=True)
        updated = self.perform_service_update(instance, dict(serializer.validated_data))
        return Response(self.get_serializer(self.reload(updated)).data)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


class SoftDeleteViewSetMixin:
    """``DELETE`` = soft delete through ``soft_delete_service`` (204), ``POST {id}/restore/`` =
    ``restore_service`` (200 with the record). Both need ``restore_permission`` (the model's delete
    permission unless a subclass says otherwise)."""

    soft_delete_service: ClassVar[Callable[..., Any]]
    restore_service: ClassVar[Callable[..., Any]]
    service_kwarg: ClassVar[str]
    restore_permission: ClassVar[str | None] = None
    # Lookups (conditions, hospitals, specializations) stay readable to everyone once retired: existing
    # records keep pointing at them, and an id a patient shows must not answer 404.
    retired_rows_readable_by_all: ClassVar[bool] = False
    default_reason = "Deleted through the API by {username}."

    def get_restore_permission(self) -> str:
        if self.restore_permission:
            return self.restore_permission
        opts = self.queryset.model._meta
        return f"{opts.app_label}.delete_{opts.model_name}"

    def may_restore(self) -> bool:
        return self.request.user.has_perm(self.get_restore_permission())

    def visible(self, queryset):
        """Deleted rows exist only for the users who may restore them (lookups: for every reader)."""
        if self.retired_rows_readable_by_all or self.may_restore():
            return queryset
        return queryset.filter(is_active=True)

    def get_permissions(self):
        if self.action in ("restore", "destroy"):
            return [IsAuthenticated(), action_permission(self.get_restore_permission())()]
        return super().get_permissions()

    def deletion_reason(self, request: Request) -> str:
        body = request.data
        if isinstance(body, Mapping) and not body:
            body = {"reason": request.query_params.get("reason", "")}
        # The body takes ``reason`` and nothing else (a non-object body is refused by name as well).
        reason = (validated(ReasonSerializer, body).get("reason") or "").strip()
        return reason or self.default_reason.format(username=request.user.get_username())

    @extend_schema(
        parameters=[REASON_PARAMETER],
        request=None,
        responses={204: None},
        description="Soft delete: the row stays, marked inactive with who, when and why, and can be restored "
        'with `POST .../{id}/restore/`. The reason may also be sent as a JSON body `{"reason": "..."}`.',
    )
    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        type(self).soft_delete_service(
            **{self.service_kwarg: instance}, reason=self.deletion_reason(request), actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, summary="Restore a deleted record")
    @action(detail=True, methods=["post"])
    def restore(self, request, *args, **kwargs):
        instance = self.get_object()
        refuse_body(request)
        restored = type(self).restore_service(**{self.service_kwarg: instance}, actor=request.user)
        return Response(self.get_serializer(self.reload(restored)).data)
