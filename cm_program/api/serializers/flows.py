"""The CM document's two enrollment flows, and the reads over several tables."""

from __future__ import annotations

from rest_framework import serializers

from cm_program import selectors
from cm_program.api.serializers._common import (
    NAME_MAX,
    NOTES_MAX,
    CMProviderSummarySerializer,
    IntakeQPatientSummarySerializer,
    _confidence_field,
    _ProfileInputSerializer,
    related,
    status_field,
    text,
)
from cm_program.api.serializers.enrollment import CMEnrollmentSerializer
from cm_program.api.serializers.identity import (
    CMCanonicalPatientSerializer,
    CMIntakeQLinkSerializer,
    CMIntakeQPatientSerializer,
    CMPatientSerializer,
)
from cm_program.models import (
    CanonicalPatient,
    CMProgram,
    CMProvider,
    IntakeQPatient,
)
from common.api.serializers import StrictCharField, StrictModelSerializer


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
