"""Shapes of the journeys API. The status of a journey is not edited: it moves through
``POST .../{id}/transition/`` (``journey_transition``), which records each step in the timeline."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer
from journeys.models import ClinicalTrialJourney, EAPJourney, Eligibility, JourneyStatusChange
from journeys.transitions import CTStatus, EAPStatus, allowed_next_statuses
from patients.models import Patient, Physician
from people.api.base import NOTES_MAX_LENGTH, NamedChoiceField

# Names of optional related records: null when there is none (documented as nullable in the schema).
NULLABLE_NAME = StrictCharField(allow_null=True, read_only=True)

SOFT_DELETE_FIELDS = ("is_active", "deleted_at", "deletion_reason")
TIMESTAMPS = ("created_at", "updated_at")
TRANSITION_HINT = "Change the status with POST .../{id}/transition/."


class JourneySerializer(StrictModelSerializer):
    patient_name = serializers.SerializerMethodField()
    allowed_next_statuses = serializers.SerializerMethodField()

    @extend_schema_field(StrictCharField())
    def get_patient_name(self, journey) -> str:
        return journey.patient.person.full_name

    @extend_schema_field(serializers.ListField(child=StrictCharField()))
    def get_allowed_next_statuses(self, journey) -> list[str]:
        return [str(status) for status in allowed_next_statuses(journey)]


def _physician_name(physician: Physician | None) -> str | None:
    return physician.person.full_name if physician is not None else None


class ClinicalTrialJourneySerializer(JourneySerializer):
    status = NamedChoiceField(CTStatus.choices, enum_name="ClinicalTrialStatusEnum", read_only=True)
    referring_physician_name = serializers.SerializerMethodField()

    class Meta:
        model = ClinicalTrialJourney
        fields = (
            "id",
            "patient",
            "patient_name",
            "referring_physician",
            "referring_physician_name",
            "trial_id",
            "trial_name",
            "referral_date",
            "eligible",
            "eligibility_assessment_date",
            "ineligible_reason",
            "status",
            "allowed_next_statuses",
            "enrollment_date",
            "completion_date",
            "outcome",
            "notes",
            *SOFT_DELETE_FIELDS,
            *TIMESTAMPS,
        )
        read_only_fields = fields

    @extend_schema_field(NULLABLE_NAME)
    def get_referring_physician_name(self, journey: ClinicalTrialJourney) -> str | None:
        return _physician_name(journey.referring_physician)


class EAPJourneySerializer(JourneySerializer):
    status = NamedChoiceField(EAPStatus.choices, enum_name="EAPStatusEnum", read_only=True)
    physician_name = serializers.SerializerMethodField()

    class Meta:
        model = EAPJourney
        fields = (
            "id",
            "patient",
            "patient_name",
            "physician",
            "physician_name",
            "eap_number",
            "product",
            "status",
            "allowed_next_statuses",
            "approval_date",
            "enrollment_date",
            "completion_date",
            "notes",
            *SOFT_DELETE_FIELDS,
            *TIMESTAMPS,
        )
        read_only_fields = fields

    @extend_schema_field(NULLABLE_NAME)
    def get_physician_name(self, journey: EAPJourney) -> str | None:
        return _physician_name(journey.physician)


class _NoStatusEdits(StrictInputSerializer):
    """``status`` in a body is accepted only unchanged (a GET body sent back with PUT); a different one is
    refused with the way to move it, rather than silently ignored."""

    initial_status: str = ""
    checked_in_validate = ("status",)

    def validate(self, attrs):
        given = self.initial_data.get("status") if hasattr(self.initial_data, "get") else None
        current = self.instance.status if self.instance is not None else self.initial_status
        if given is not None and given != current:
            raise serializers.ValidationError({"status": [TRANSITION_HINT]})
        return attrs


class _PhysicianField(serializers.PrimaryKeyRelatedField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Physician.all_objects.all(), required=False, allow_null=True, **kwargs)


class ClinicalTrialJourneyCreateSerializer(_NoStatusEdits):
    initial_status = CTStatus.REFERRED
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.all_objects.all(), help_text="Patient id.")
    referring_physician = _PhysicianField(help_text="Physician id.")
    trial_id = StrictCharField(
        max_length=50, required=False, allow_blank=True, help_text="ClinicalTrials.gov ids are NCT + 8 digits."
    )
    trial_name = StrictCharField(max_length=300, required=False, allow_blank=True)
    referral_date = serializers.DateField(required=False, allow_null=True, help_text="Today when omitted.")
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)
    note = StrictCharField(
        max_length=NOTES_MAX_LENGTH,
        multiline=True,
        required=False,
        allow_blank=True,
        help_text="Note on the timeline's first step.",
    )


class ClinicalTrialJourneyUpdateSerializer(_NoStatusEdits):
    referring_physician = _PhysicianField(help_text="Physician id.")
    trial_id = StrictCharField(max_length=50, required=False, allow_blank=True)
    trial_name = StrictCharField(max_length=300, required=False, allow_blank=True)
    referral_date = serializers.DateField(required=False)
    eligible = serializers.ChoiceField(choices=Eligibility.choices, required=False)
    eligibility_assessment_date = serializers.DateField(required=False, allow_null=True)
    ineligible_reason = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)
    enrollment_date = serializers.DateField(required=False, allow_null=True)
    completion_date = serializers.DateField(required=False, allow_null=True)
    outcome = StrictCharField(max_length=300, required=False, allow_blank=True)
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class EAPJourneyCreateSerializer(_NoStatusEdits):
    initial_status = EAPStatus.PENDING
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.all_objects.all(), help_text="Patient id.")
    physician = _PhysicianField(help_text="Physician id.")
    eap_number = StrictCharField(
        max_length=50, required=False, allow_blank=True, help_text="The EAP dossier number; unique ignoring case."
    )
    product = StrictCharField(max_length=200)
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)
    note = StrictCharField(
        max_length=NOTES_MAX_LENGTH,
        multiline=True,
        required=False,
        allow_blank=True,
        help_text="Note on the timeline's first step.",
    )


class EAPJourneyUpdateSerializer(_NoStatusEdits):
    physician = _PhysicianField(help_text="Physician id.")
    eap_number = StrictCharField(max_length=50, required=False, allow_blank=True)
    product = StrictCharField(max_length=200, required=False)
    approval_date = serializers.DateField(required=False, allow_null=True)
    enrollment_date = serializers.DateField(required=False, allow_null=True)
    completion_date = serializers.DateField(required=False, allow_null=True)
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class _TransitionSerializer(StrictInputSerializer):
    note = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)
    at = serializers.DateTimeField(required=False, allow_null=True, help_text="When it happened; now when omitted.")


class ClinicalTrialTransitionSerializer(_TransitionSerializer):
    status = NamedChoiceField(CTStatus.choices, enum_name="ClinicalTrialStatusEnum", help_text="The status to move to.")
    ineligible_reason = StrictCharField(
        max_length=NOTES_MAX_LENGTH,
        multiline=True,
        required=False,
        allow_blank=True,
        help_text="Required to move to ineligible.",
    )
    outcome = StrictCharField(max_length=300, required=False, allow_blank=True)


class EAPTransitionSerializer(_TransitionSerializer):
    status = NamedChoiceField(EAPStatus.choices, enum_name="EAPStatusEnum", help_text="The status to move to.")


class TimelineStepSerializer(StrictModelSerializer):
    changed_by_username = StrictCharField(source="changed_by.username", read_only=True, allow_null=True)

    class Meta:
        model = JourneyStatusChange
        fields = ("id", "from_status", "to_status", "changed_at", "changed_by", "changed_by_username", "note")
        read_only_fields = fields
