"""Shapes of the CM API. Serializers check types, required fields, lengths and choices only; every rule
(identity, one profile per human, caseload limits, the points schedule...) is the services' business.

Responses name foreign keys by their model field (``cpss_provider``, ``cm_program``...) holding the
UUID, and add a ``<field>_detail`` object with what a script usually needs next (names, date of birth).
Request bodies are strict: a field the resource does not take (unknown, or read-only such as
``total_points``) is a 400 naming it, rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import TextChoices
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cm_program import selectors
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentSource,
    IntakeQLink,
    IntakeQPatient,
    PointsEvent,
    ProviderRole,
    ProviderStatus,
    SmartphoneAccess,
)
from cm_program.services import RECORDABLE_EVENTS
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer, StrictSlugRelatedField
from people.models import User

NAME_MAX = 200
TEXT_MAX = 1000
NOTES_MAX = 10000
EMAIL_MAX = 254
PHONE_MAX = 50
JSON_MAX_CHARS = 10000
POINTS_LIMIT = 100_000


# ---------------------------------------------------------------------------------------------------
# Building blocks


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


# ---------------------------------------------------------------------------------------------------
# Summaries nested in other resources


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


# ---------------------------------------------------------------------------------------------------
# Canonical patients


class CMCanonicalPatientSerializer(StrictModelSerializer):
    cm_patient = serializers.UUIDField(
        source="cm_profile.id", read_only=True, allow_null=True, help_text="The CM profile, if any."
    )
    intakeq_link = serializers.UUIDField(source="intakeq_link.id", read_only=True, allow_null=True)
    intakeq_patient = serializers.UUIDField(
        source="intakeq_link.intakeq_patient_id",
        read_only=True,
        allow_null=True,
        help_text="The linked IntakeQ record.",
    )

    class Meta:
        model = CanonicalPatient
        fields = (
            "id",
            "first_name",
            "last_name",
            "date_of_birth",
            "person",
            "cm_patient",
            "intakeq_link",
            "intakeq_patient",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CMCanonicalPatientCreateSerializer(StrictInputSerializer):
    first_name = StrictCharField(max_length=NAME_MAX)
    last_name = StrictCharField(max_length=NAME_MAX)
    date_of_birth = serializers.DateField()
    email = text(EMAIL_MAX, help_text="Links the identity to the CRM Person with this email (or creates one).")
    phone = text(PHONE_MAX)


class CMCanonicalPatientUpdateSerializer(StrictInputSerializer):
    first_name = StrictCharField(max_length=NAME_MAX, required=False)
    last_name = StrictCharField(max_length=NAME_MAX, required=False)
    date_of_birth = serializers.DateField(required=False)
    refused = {"person": "The Person link is kept by the identity services; it cannot be set."}


# ---------------------------------------------------------------------------------------------------
# CM profiles (patients_cm)

PROFILE_FIELDS = (
    "phone",
    "email",
    "insurance_primary",
    "medicaid_id",
    "enrollment_source",
    "consent_date",
    "smartphone_access",
    "emergency_contact_name",
    "emergency_contact_phone",
    "address_street",
    "address_city",
    "address_state",
    "address_zip",
    "preferred_language",
    "status",
)


class CMPatientSerializer(StrictModelSerializer):
    canonical_patient_detail = CanonicalPatientSummarySerializer(source="canonical_patient", read_only=True)
    enrollment_source = EnrollmentSourceField(choices=EnrollmentSource.choices, read_only=True, allow_null=True)
    smartphone_access = SmartphoneAccessField(choices=SmartphoneAccess.choices, read_only=True, allow_null=True)
    status = status_field(read_only=True)

    class Meta:
        model = CMPatient
        fields = ("id", "canonical_patient", "canonical_patient_detail", *PROFILE_FIELDS, "created_at", "updated_at")
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


class CMPatientCreateSerializer(_ProfileInputSerializer):
    canonical_patient = related(selectors.canonical_patients_visible_to, CanonicalPatient)
    aliases = {"canonical_patient_id": "canonical_patient"}


class CMPatientUpdateSerializer(_ProfileInputSerializer):
    refused = {"canonical_patient": "A CM profile belongs to one canonical patient for good."}


# ---------------------------------------------------------------------------------------------------
# Providers (providers_cm)


class CMProviderSerializer(StrictModelSerializer):
    role = ProviderRoleField(choices=ProviderRole.choices, read_only=True)
    status = ProviderStatusField(choices=ProviderStatus.choices, read_only=True)
    username = StrictCharField(source="user.username", read_only=True, allow_null=True)
    active_enrollments = serializers.IntegerField(read_only=True, help_text="Active enrollments held (caseload).")

    class Meta:
        model = CMProvider
        fields = (
            "id",
            "canonical_provider_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "role",
            "credentials",
            "hire_date",
            "status",
            "max_caseload",
            "active_enrollments",
            "user",
            "username",
            "person",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CMProviderInputSerializer(StrictInputSerializer):
    canonical_provider_id = StrictUUIDField(required=False, allow_null=True)
    first_name = StrictCharField(max_length=NAME_MAX)
    last_name = StrictCharField(max_length=NAME_MAX)
    email = text(EMAIL_MAX)
    phone = text(PHONE_MAX)
    role = ProviderRoleField(choices=ProviderRole.choices, required=False)
    credentials = text(100, help_text="CPSS-I, CPSS-II, ...")
    hire_date = serializers.DateField(required=False, allow_null=True)
    status = ProviderStatusField(choices=ProviderStatus.choices, required=False)
    max_caseload = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        pk_field=StrictUUIDField(),
        help_text="The staff login (id) that limits this CPSS to their caseload. Or give `username`.",
    )
    username = StrictSlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        write_only=True,
        help_text="Alternative to `user`: the staff login's username.",
    )
    refused = {
        "active_enrollments": "Computed from the enrollments.",
        "person": "Not settable through the API.",
    }

    def validate(self, attrs):
        if "username" in attrs:
            if "user" in attrs:
                raise serializers.ValidationError({"username": ["Give either user or username, not both."]})
            attrs["user"] = attrs.pop("username")
        return attrs


# ---------------------------------------------------------------------------------------------------
# Programs (contingency_management)


class CMProgramSerializer(StrictModelSerializer):
    class Meta:
        model = CMProgram
        fields = ("id", "name", "description", "is_active", *CMProgram.SCHEDULE_FIELDS, "created_at", "updated_at")
        read_only_fields = fields


def _points_setting() -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=0, max_value=POINTS_LIMIT)


class CMProgramInputSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=NAME_MAX)
    description = text(NOTES_MAX)
    is_active = serializers.BooleanField(required=False)
    points_group_attendance = _points_setting()
    points_negative_test_base = _points_setting()
    points_negative_test_increment = _points_setting()
    points_negative_test_cap = _points_setting()
    points_weekly_checkin = _points_setting()
    points_peer_support = _points_setting()
    points_enrollment_bonus = _points_setting()


# ---------------------------------------------------------------------------------------------------
# Enrollments (cm_enrollments) and the points ledger


class CMEnrollmentSerializer(StrictModelSerializer):
    canonical_patient_detail = CanonicalPatientSummarySerializer(source="canonical_patient", read_only=True)
    cm_program_detail = CMProgramSummarySerializer(source="cm_program", read_only=True)
    cpss_provider_detail = CMProviderSummarySerializer(source="cpss_provider", read_only=True, allow_null=True)
    status = status_field(read_only=True)

    class Meta:
        model = CMEnrollment
        fields = (
            "id",
            "canonical_patient",
            "canonical_patient_detail",
            "cm_patient",
            "cm_program",
            "cm_program_detail",
            "cpss_provider",
            "cpss_provider_detail",
            "total_points",
            "current_streak",
            "enrollment_date",
            "status",
            "medicaid_verification",
            "pod_assignment",
            "notes",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


_LEDGER_MANAGED = "Points and streak follow the ledger: record an event (POST .../events/) instead."


class CMEnrollmentCreateSerializer(StrictInputSerializer):
    cm_patient = related(
        selectors.cm_patients_visible_to, CMPatient, required=False, help_text="The CM profile to enroll."
    )
    canonical_patient = related(
        selectors.canonical_patients_visible_to,
        CanonicalPatient,
        required=False,
        help_text="Alternative to cm_patient: the canonical patient whose CM profile is enrolled.",
    )
    cm_program = related(
        selectors.cm_programs_visible_to,
        CMProgram,
        required=False,
        help_text="Optional when exactly one program is active.",
    )
    cpss_provider = related(selectors.cm_providers_visible_to, CMProvider, required=False, allow_null=True)
    enrollment_date = serializers.DateTimeField(required=False)
    pod_assignment = text(NAME_MAX)
    notes = text(NOTES_MAX)
    medicaid_verification = serializers.JSONField(required=False, allow_null=True)
    aliases = {
        "cm_patient_id": "cm_patient",
        "canonical_patient_id": "canonical_patient",
        "cm_program_id": "cm_program",
        "cpss_provider_id": "cpss_provider",
    }
    refused = {"total_points": _LEDGER_MANAGED, "current_streak": _LEDGER_MANAGED}

    def validate_medicaid_verification(self, value):
        return _check_json_size(value)


class CMEnrollmentUpdateSerializer(StrictInputSerializer):
    status = status_field(required=False, help_text="Or POST .../status/.")
    status_reason = text(NOTES_MAX, help_text="Why the status changes (kept in the audit trail).")
    cpss_provider = related(
        selectors.cm_providers_visible_to,
        CMProvider,
        required=False,
        allow_null=True,
        help_text="Reassign to another CPSS (CM supervisors).",
    )
    pod_assignment = text(NAME_MAX)
    notes = text(NOTES_MAX)
    medicaid_verification = serializers.JSONField(required=False, allow_null=True)
    aliases = {"cpss_provider_id": "cpss_provider"}
    refused = {
        "total_points": _LEDGER_MANAGED,
        "current_streak": _LEDGER_MANAGED,
        "canonical_patient": "An enrollment stays with its patient.",
        "cm_patient": "An enrollment stays with its patient.",
        "cm_program": "An enrollment stays in its program; enroll in the other program instead.",
        "enrollment_date": "The enrollment date is fixed when enrolling.",
    }

    def validate_medicaid_verification(self, value):
        return _check_json_size(value)


class CMEnrollmentStatusSerializer(StrictInputSerializer):
    status = status_field()
    reason = text(NOTES_MAX, help_text="Why (kept in the audit trail).")


class CMLedgerEntrySerializer(StrictModelSerializer):
    event_type = PointsEventField(choices=PointsEvent.choices, read_only=True)
    reversed_by = serializers.UUIDField(
        source="reversed_by.id", read_only=True, allow_null=True, help_text="The reversal cancelling this entry."
    )
    recorded_by_username = StrictCharField(source="recorded_by.username", read_only=True, allow_null=True)

    class Meta:
        model = CMPointsTransaction
        fields = (
            "id",
            "enrollment",
            "canonical_patient",
            "sequence",
            "event_type",
            "points",
            "reason",
            "reverses",
            "reversed_by",
            "streak_after",
            "recorded_by",
            "recorded_by_username",
            "occurred_at",
            "created_at",
        )
        read_only_fields = fields


class CMEventSerializer(StrictInputSerializer):
    event_type = RecordableEventField(
        choices=[(str(e.value), e.label) for e in RECORDABLE_EVENTS],
        help_text="group_attendance, test_negative, test_positive, test_missed, weekly_checkin, peer_support, "
        "manual_adjustment.",
    )
    points = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-POINTS_LIMIT,
        max_value=POINTS_LIMIT,
        help_text="manual_adjustment only (signed, not zero); other events take the program's schedule.",
    )
    reason = text(NOTES_MAX, help_text="Required for manual_adjustment.")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")


class CMReverseSerializer(StrictInputSerializer):
    reason = StrictCharField(
        max_length=NOTES_MAX, allow_blank=True, multiline=True, help_text="Why the entry is cancelled."
    )


class CMLedgerResultSerializer(serializers.Serializer):
    """A ledger entry just written, and the enrollment's totals after it."""

    entry = CMLedgerEntrySerializer()
    points_awarded = serializers.IntegerField(help_text="Signed points of the entry.")
    total_points = serializers.IntegerField(help_text="The enrollment's balance after the entry.")
    current_streak = serializers.IntegerField(help_text="The negative-test streak after the entry.")


# ---------------------------------------------------------------------------------------------------
# IntakeQ mirror and links


class CMIntakeQPatientSerializer(StrictModelSerializer):
    intakeq_link = serializers.UUIDField(source="canonical_link.id", read_only=True, allow_null=True)
    canonical_patient = serializers.UUIDField(
        source="canonical_link.canonical_patient_id", read_only=True, allow_null=True
    )

    class Meta:
        model = IntakeQPatient
        fields = (
            "id",
            "intakeq_client_id",
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "intakeq_link",
            "canonical_patient",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CMIntakeQPatientInputSerializer(StrictInputSerializer):
    intakeq_client_id = text(NAME_MAX, help_text="The EMR's client id (unique).")
    first_name = StrictCharField(max_length=NAME_MAX)
    last_name = StrictCharField(max_length=NAME_MAX)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    email = text(EMAIL_MAX)
    phone = text(PHONE_MAX)
    refused = {
        "intakeq_link": "Link through POST /api/v1/cm/intakeq-links/.",
        "canonical_patient": "Link through POST /api/v1/cm/intakeq-links/.",
    }


class CMIntakeQLinkSerializer(StrictModelSerializer):
    canonical_patient_detail = CanonicalPatientSummarySerializer(source="canonical_patient", read_only=True)
    intakeq_patient_detail = IntakeQPatientSummarySerializer(source="intakeq_patient", read_only=True)
    confidence_score = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False, read_only=True)
    linked_by_username = StrictCharField(source="linked_by.username", read_only=True, allow_null=True)

    class Meta:
        model = IntakeQLink
        fields = (
            "id",
            "canonical_patient",
            "canonical_patient_detail",
            "intakeq_patient",
            "intakeq_patient_detail",
            "linked_date",
            "linked_by",
            "linked_by_username",
            "confidence_score",
            "notes",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _confidence_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        coerce_to_string=False,
        help_text="Matching confidence, 0.00-1.00 (default 1.00).",
        **kwargs,
    )


class CMIntakeQLinkCreateSerializer(StrictInputSerializer):
    canonical_patient = related(selectors.canonical_patients_visible_to, CanonicalPatient)
    intakeq_patient = related(selectors.intakeq_patients_visible_to, IntakeQPatient)
    confidence_score = _confidence_field(required=False, allow_null=True)
    notes = text(NOTES_MAX)
    aliases = {"canonical_patient_id": "canonical_patient", "intakeq_patient_id": "intakeq_patient"}
    refused = {"linked_by": "The link is confirmed by you, the caller.", "linked_date": "Set when linking."}


class CMIntakeQLinkUpdateSerializer(StrictInputSerializer):
    confidence_score = _confidence_field(required=False, allow_null=True)
    notes = text(NOTES_MAX)
    refused = {
        "canonical_patient": "A link's two ends are fixed; link the right records instead.",
        "intakeq_patient": "A link's two ends are fixed; link the right records instead.",
        "linked_by": "Set when linking.",
        "linked_date": "Set when linking.",
    }


# ---------------------------------------------------------------------------------------------------
# The CM document's two enrollment flows


class _EnrollInputSerializer(_ProfileInputSerializer):
    cm_program = related(
        selectors.cm_programs_visible_to,
        CMProgram,
        required=False,
        help_text="Optional when exactly one program is active.",
    )
    enrollment_date = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")
    pod_assignment = text(NAME_MAX)
    notes = text(NOTES_MAX, help_text="Notes on the enrollment.")


class CMEnrollNewSerializer(_EnrollInputSerializer):
    """Scenario 1: a new CM patient. Identity by name + date of birth, or an existing ``canonical_patient``."""

    canonical_patient = related(
        selectors.canonical_patients_visible_to,
        CanonicalPatient,
        required=False,
        help_text="Instead of first_name, last_name and date_of_birth: an existing canonical patient.",
    )
    first_name = StrictCharField(max_length=NAME_MAX, required=False)
    last_name = StrictCharField(max_length=NAME_MAX, required=False)
    date_of_birth = serializers.DateField(required=False)
    cpss_provider = related(selectors.cm_providers_visible_to, CMProvider, help_text="The CPSS (required).")
    aliases = {
        "canonical_patient_id": "canonical_patient",
        "cm_program_id": "cm_program",
        "cpss_provider_id": "cpss_provider",
    }

    def validate(self, attrs):
        if attrs.get("canonical_patient") is None:
            missing = {
                name: ["This field is required (or give canonical_patient)."]
                for name in ("first_name", "last_name", "date_of_birth")
                if name not in attrs
            }
            if missing:
                raise serializers.ValidationError(missing)
        else:
            given = [name for name in ("first_name", "last_name", "date_of_birth") if name in attrs]
            if given:
                raise serializers.ValidationError(
                    {name: ["Give either canonical_patient or the name and date of birth."] for name in given}
                )
        return attrs


class CMEnrollFromIntakeQSerializer(_EnrollInputSerializer):
    """Scenario 2: an IntakeQ patient joins CM. The IntakeQ record by id, or found by name + date of birth."""

    intakeq_patient = related(
        selectors.intakeq_patients_visible_to,
        IntakeQPatient,
        required=False,
        help_text="The IntakeQ record; or give first_name, last_name and date_of_birth to find it.",
    )
    first_name = StrictCharField(max_length=NAME_MAX, required=False)
    last_name = StrictCharField(max_length=NAME_MAX, required=False)
    date_of_birth = serializers.DateField(required=False)
    cpss_provider = related(
        selectors.cm_providers_visible_to, CMProvider, required=False, allow_null=True, help_text="Optional."
    )
    confidence_score = _confidence_field(
        required=False,
        allow_null=True,
    )
    link_notes = text(NOTES_MAX, help_text="Notes on the IntakeQ link.")
    aliases = {
        "intakeq_patient_id": "intakeq_patient",
        "cm_program_id": "cm_program",
        "cpss_provider_id": "cpss_provider",
    }
    refused = {"canonical_patient": "Scenario 2 finds or creates the canonical patient from the IntakeQ record."}

    def validate_confidence_score(self, value):
        # The document's scenario 2 links on an exact match; a fuzzy match is linked by hand
        # (POST /intakeq-links/ with its score) and then enrolled (POST /enrollments/).
        if value is not None and value != 1:
            raise serializers.ValidationError("This flow links on an exact match (1.00); link other matches by hand.")
        return value

    def validate(self, attrs):
        attrs.pop("confidence_score", None)
        if attrs.get("intakeq_patient") is None:
            missing = {
                name: ["This field is required (or give intakeq_patient)."]
                for name in ("first_name", "last_name", "date_of_birth")
                if name not in attrs
            }
            if missing:
                raise serializers.ValidationError(missing)
        elif any(name in attrs for name in ("first_name", "last_name", "date_of_birth")):
            raise serializers.ValidationError(
                {"intakeq_patient": ["Give either intakeq_patient or the name and date of birth, not both."]}
            )
        return attrs


class CMEnrollCreatedSerializer(serializers.Serializer):
    """Which records the call created; false means an existing one was reused."""

    canonical_patient = serializers.BooleanField()
    cm_patient = serializers.BooleanField()
    intakeq_link = serializers.BooleanField()
    person = serializers.BooleanField(help_text="The CRM-wide Person of this human.")


class CMPersonConflictSerializer(serializers.Serializer):
    stored = StrictCharField(allow_null=True)
    given = StrictCharField(allow_null=True)


class CMEnrollResultSerializer(serializers.Serializer):
    """What an enrollment flow wrote or reused."""

    canonical_patient = CMCanonicalPatientSerializer()
    cm_patient = CMPatientSerializer()
    enrollment = CMEnrollmentSerializer()
    intakeq_link = CMIntakeQLinkSerializer(allow_null=True)
    created = CMEnrollCreatedSerializer()
    person_conflicts = serializers.DictField(
        child=CMPersonConflictSerializer(),
        help_text="Values that differ from the stored Person and were left alone: field -> {stored, given}.",
    )


# ---------------------------------------------------------------------------------------------------
# Reads over several tables


class CMCompletePatientViewSerializer(serializers.Serializer):
    """The CM document's "complete patient view"."""

    identity = CMCanonicalPatientSerializer()
    cm = CMPatientSerializer(allow_null=True, help_text="The CM profile.")
    intakeq_link = CMIntakeQLinkSerializer(allow_null=True)
    intakeq = CMIntakeQPatientSerializer(allow_null=True, help_text="The IntakeQ record.")
    enrollment = CMEnrollmentSerializer(allow_null=True, help_text="The most recent enrollment (see enrollments).")
    enrollments = CMEnrollmentSerializer(many=True, help_text="Every enrollment, oldest first, with its CPSS.")


class CMDualEnrollmentSerializer(StrictModelSerializer):
    """A row of the CM document's "Detect Dual Enrollment" query, with the ids of both sides."""

    has_intakeq = serializers.BooleanField(read_only=True, default=True)
    has_cm = serializers.BooleanField(read_only=True, default=True)
    cm_patient = serializers.UUIDField(source="cm_profile.id", read_only=True)
    cm_status = status_field(source="cm_profile.status", read_only=True)
    intakeq_patient = serializers.UUIDField(source="intakeq_link.intakeq_patient_id", read_only=True)
    intakeq_patient_detail = IntakeQPatientSummarySerializer(source="intakeq_link.intakeq_patient", read_only=True)

    class Meta:
        model = CanonicalPatient
        fields = (
            "id",
            "first_name",
            "last_name",
            "date_of_birth",
            "has_intakeq",
            "has_cm",
            "cm_patient",
            "cm_status",
            "intakeq_patient",
            "intakeq_patient_detail",
        )
        read_only_fields = fields


class CMCaseloadSerializer(serializers.Serializer):
    """One CPSS's caseload (the supervisors' caseload view)."""

    cpss_provider = serializers.UUIDField(source="provider.id")
    cpss_provider_detail = CMProviderSummarySerializer(source="provider")
    active_enrollments = serializers.IntegerField()
    max_caseload = serializers.IntegerField()
    places_left = serializers.IntegerField()
    load_ratio = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=False, allow_null=True)
    without_event_7_days = serializers.IntegerField(
        help_text="Active patients without a recorded behaviour in the last 7 days."
    )
    points_this_week = serializers.IntegerField(help_text="Net points written since Monday 00:00.")
