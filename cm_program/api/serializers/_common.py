"""Building blocks of the CM serializers: limits, enum fields, scoped relations, nested summaries."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import TextChoices
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cm_program.models import (
    CanonicalPatient,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentSource,
    IntakeQPatient,
    PointsEvent,
    ProviderRole,
    ProviderStatus,
    SmartphoneAccess,
)
from cm_program.services import RECORDABLE_EVENTS
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer

NAME_MAX = 200
TEXT_MAX = 1000
NOTES_MAX = 10000
EMAIL_MAX = 254
PHONE_MAX = 50
JSON_MAX_CHARS = 10000
POINTS_LIMIT = 100_000


def _enum_field(component: str, values: list[str], description: str = "") -> type[serializers.ChoiceField]:
    """A ChoiceField documented as its own named enum component.

    Several CM fields share a name but not a choice list (``status`` of a profile vs. of a provider),
    which drf-spectacular can only name with a warning; a named component per choice list avoids that.
    """
    schema: dict[str, Any] = {"type": "string", "enum": list(values)}
    if description:
        schema["description"] = description
    field_class = type(f"{component}Field", (serializers.ChoiceField,), {})
    return extend_schema_field(schema, component_name=f"{component}Enum")(field_class)


def _choices(enum: type[TextChoices]) -> list[str]:
    return list(enum.values)


CMStatusField = _enum_field("CMStatus", _choices(CMStatus))
ProviderStatusField = _enum_field("CMProviderStatus", _choices(ProviderStatus))
ProviderRoleField = _enum_field("CMProviderRole", _choices(ProviderRole))
EnrollmentSourceField = _enum_field("CMEnrollmentSource", _choices(EnrollmentSource))
SmartphoneAccessField = _enum_field("CMSmartphoneAccess", _choices(SmartphoneAccess))
PointsEventField = _enum_field("CMPointsEvent", _choices(PointsEvent))
RecordableEventField = _enum_field("CMRecordableEvent", [str(e.value) for e in RECORDABLE_EVENTS])


def status_field(**kwargs) -> serializers.ChoiceField:
    return CMStatusField(choices=CMStatus.choices, **kwargs)


def text(max_length: int = TEXT_MAX, **kwargs) -> StrictCharField:
    """An optional free-text field: empty and null are accepted (the services store NULL). Notes-sized
    fields (notes, descriptions, reasons) are multi-line: they keep tab and line breaks."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_null", True)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("multiline", max_length >= NOTES_MAX)
    return StrictCharField(max_length=max_length, **kwargs)


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a string. DRF's own field also turns the integer 7 into ...0007, which would let a
    wrong type through as a (missing) id."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "hex_verbose")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A UUID pointing at a CM row the requesting user may see; anything else "does not exist"."""

    def __init__(self, *, scope, model, **kwargs):
        self.scope = scope
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return self.scope(getattr(request, "user", None), self.model.objects.all())


def related(scope, model, **kwargs) -> ScopedRelatedField:
    kwargs.setdefault("pk_field", StrictUUIDField())
    return ScopedRelatedField(scope=scope, model=model, **kwargs)


def _check_json_size(value: Any) -> Any:
    if value is not None and len(json.dumps(value)) > JSON_MAX_CHARS:
        raise serializers.ValidationError(f"At most {JSON_MAX_CHARS} characters of JSON.")
    return value


class CanonicalPatientSummarySerializer(StrictModelSerializer):
    class Meta:
        model = CanonicalPatient
        fields = ("id", "first_name", "last_name", "date_of_birth")
        read_only_fields = fields


class CMProgramSummarySerializer(StrictModelSerializer):
    class Meta:
        model = CMProgram
        fields = ("id", "name")
        read_only_fields = fields


class CMProviderSummarySerializer(StrictModelSerializer):
    class Meta:
        model = CMProvider
        fields = ("id", "first_name", "last_name", "credentials")
        read_only_fields = fields


class IntakeQPatientSummarySerializer(StrictModelSerializer):
    class Meta:
        model = IntakeQPatient
        fields = ("id", "intakeq_client_id", "first_name", "last_name", "date_of_birth")
        read_only_fields = fields


class _ProfileInputSerializer(StrictInputSerializer):
    """The CM profile's fields as a request takes them (all optional)."""

    phone = text(PHONE_MAX)
    email = text(EMAIL_MAX)
    insurance_primary = text(NAME_MAX)
    medicaid_id = text(NAME_MAX)
    enrollment_source = EnrollmentSourceField(choices=EnrollmentSource.choices, required=False, allow_null=True)
    consent_date = serializers.DateTimeField(required=False, allow_null=True)
    smartphone_access = SmartphoneAccessField(choices=SmartphoneAccess.choices, required=False, allow_null=True)
    emergency_contact_name = text(NAME_MAX)
    emergency_contact_phone = text(PHONE_MAX)
    address_street = text(NAME_MAX)
    address_city = text(NAME_MAX)
    address_state = text(NAME_MAX)
    address_zip = text(20)
    preferred_language = text(100)
    status = status_field(required=False)


def _confidence_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        coerce_to_string=False,
        help_text="Matching confidence, 0.00-1.00 (default 1.00).",
        **kwargs,
    )
