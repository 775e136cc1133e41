"""Enrollments (cm_enrollments) and the points ledger."""

from __future__ import annotations

from rest_framework import serializers

from cm_program import selectors
from cm_program.api.serializers._common import (
    NAME_MAX,
    NOTES_MAX,
    POINTS_LIMIT,
    CanonicalPatientSummarySerializer,
    CMProgramSummarySerializer,
    CMProviderSummarySerializer,
    PointsEventField,
    RecordableEventField,
    _check_json_size,
    related,
    status_field,
    text,
)
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    PointsEvent,
)
from cm_program.services import RECORDABLE_EVENTS
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer


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
