"""Canonical patients, CM profiles (patients_cm), the IntakeQ mirror and its links."""

from __future__ import annotations

from rest_framework import serializers

from cm_program import selectors
from cm_program.api.serializers._common import (
    EMAIL_MAX,
    NAME_MAX,
    NOTES_MAX,
    PHONE_MAX,
    CanonicalPatientSummarySerializer,
    EnrollmentSourceField,
    IntakeQPatientSummarySerializer,
    SmartphoneAccessField,
    _confidence_field,
    _ProfileInputSerializer,
    related,
    status_field,
    text,
)
from cm_program.models import (
    CanonicalPatient,
    CMPatient,
    EnrollmentSource,
    IntakeQLink,
    IntakeQPatient,
    SmartphoneAccess,
)

# One list of profile fields: the service's (the serializer's fields and the service's rules agree).
from cm_program.services import PROFILE_FIELDS
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer


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


class CMPatientSerializer(StrictModelSerializer):
    canonical_patient_detail = CanonicalPatientSummarySerializer(source="canonical_patient", read_only=True)
    enrollment_source = EnrollmentSourceField(choices=EnrollmentSource.choices, read_only=True, allow_null=True)
    smartphone_access = SmartphoneAccessField(choices=SmartphoneAccess.choices, read_only=True, allow_null=True)
    status = status_field(read_only=True)

    class Meta:
        model = CMPatient
        fields = ("id", "canonical_patient", "canonical_patient_detail", *PROFILE_FIELDS, "created_at", "updated_at")
        read_only_fields = fields


class CMPatientCreateSerializer(_ProfileInputSerializer):
    canonical_patient = related(selectors.canonical_patients_visible_to, CanonicalPatient)
    aliases = {"canonical_patient_id": "canonical_patient"}


class CMPatientUpdateSerializer(_ProfileInputSerializer):
    refused = {"canonical_patient": "A CM profile belongs to one canonical patient for good."}


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
