"""Shapes of the patient-navigation API. Shape only (types, required, lengths, ids that exist): every rule
(the returning-patient rule, conditions in use, navigators holding the role, dates in order...) is the
services'.

Reads name related rows by id (``medical_condition``, ``navigator``, ...) next to a readable name
(``medical_condition_name``, ``navigator_name``), so a body read with GET can be sent back with PUT.
A patient, lead or physician carries its Person twice: flat (``first_name``, ``email``, ... as the
original API had them) and nested under ``person`` (with the Person's id).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.serializers import (
    REPRESENTATION_FIELDS,
    FastRepresentationMixin,
    LocalDateField,
    StrictCharField,
    StrictInputSerializer,
    StrictModelSerializer,
    UnreadReferenceField,
)
from patients.models import (
    CallDirection,
    CallHistory,
    CallOutcome,
    Hospital,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientStatus,
    Physician,
    Specialization,
)
from people.api.base import NOTES_MAX_LENGTH, NamedChoiceField, PersonDetailsInput, flatten_person
from people.models import Person
from people.selectors import persons_in_patient_navigation

# Names of optional related records: null when there is none (documented as nullable in the schema).
NULLABLE_NAME = StrictCharField(allow_null=True, read_only=True)

SOFT_DELETE_FIELDS = ("is_active", "deleted_at", "deletion_reason")
TIMESTAMPS = ("created_at", "updated_at")


def _name(person: Person | None) -> str | None:
    return person.full_name if person is not None else None


class NestedPersonSerializer(FastRepresentationMixin, StrictModelSerializer):
    class Meta:
        model = Person
        fields = ("id", "first_name", "last_name", "email", "phone", "date_of_birth", "is_active")
        read_only_fields = fields


class WithPersonSerializer(FastRepresentationMixin, StrictModelSerializer):
    """A role record with its Person, nested and flat."""

    person = NestedPersonSerializer(read_only=True)
    first_name = StrictCharField(source="person.first_name", read_only=True)
    last_name = StrictCharField(source="person.last_name", read_only=True)
    email = serializers.EmailField(source="person.email", read_only=True, allow_null=True)
    phone = StrictCharField(source="person.phone", read_only=True)
    date_of_birth = serializers.DateField(source="person.date_of_birth", read_only=True, allow_null=True)


PERSON_READ_FIELDS = ("person", "first_name", "last_name", "email", "phone", "date_of_birth")


class FlatPersonInput(PersonDetailsInput):
    """Accepts the Person's details flat (canonical) or nested under ``person``."""

    def to_internal_value(self, data):
        sent_back = frozenset(self.context.get(REPRESENTATION_FIELDS, ()))
        return super().to_internal_value(flatten_person(data, sent_back=sent_back))


def _navigation_person_field(**kwargs) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(queryset=persons_in_patient_navigation(), **kwargs)


# --- Lookups -----------------------------------------------------------------------------------------------


class MedicalConditionSerializer(StrictModelSerializer):
    class Meta:
        model = MedicalCondition
        fields = ("id", "name", "abbreviation", "description", *SOFT_DELETE_FIELDS, *TIMESTAMPS)
        read_only_fields = fields


class MedicalConditionWriteSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=200, help_text="Unique ignoring case; a duplicate is a 409.")
    abbreviation = StrictCharField(max_length=20, required=False, allow_blank=True)
    description = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class HospitalSerializer(StrictModelSerializer):
    class Meta:
        model = Hospital
        fields = ("id", "name", "city", "country", "address", *SOFT_DELETE_FIELDS, *TIMESTAMPS)
        read_only_fields = fields


class HospitalWriteSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=200, help_text="Unique within a city and country, ignoring case.")
    city = StrictCharField(max_length=100, required=False, allow_blank=True)
    country = StrictCharField(max_length=100, required=False, allow_blank=True)
    address = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class SpecializationSerializer(StrictModelSerializer):
    class Meta:
        model = Specialization
        fields = ("id", "name", *SOFT_DELETE_FIELDS, *TIMESTAMPS)
        read_only_fields = fields


class SpecializationWriteSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=200, help_text="Unique ignoring case; a duplicate is a 409.")


# --- Patients ----------------------------------------------------------------------------------------------


class PatientSerializer(WithPersonSerializer):
    status = NamedChoiceField(PatientStatus.choices, enum_name="PatientStatusEnum", read_only=True)
    medical_condition_name = StrictCharField(source="medical_condition.name", read_only=True, allow_null=True)
    navigator_name = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = (
            "id",
            *PERSON_READ_FIELDS,
            "medical_condition",
            "medical_condition_name",
            "navigator",
            "navigator_name",
            "first_contact_date",
            "initial_consult_date",
            "status",
            *SOFT_DELETE_FIELDS,
            *TIMESTAMPS,
        )
        read_only_fields = fields

    @extend_schema_field(NULLABLE_NAME)
    def get_navigator_name(self, patient: Patient) -> str | None:
        return _name(patient.navigator)


class PatientRegistrationSerializer(PatientSerializer):
    """The registered patient, plus what the returning-patient rule did."""

    person_reused = serializers.BooleanField(
        read_only=True, help_text="true: a Person with this email existed and was reused (never duplicated)."
    )
    conflicts = serializers.DictField(
        read_only=True,
        child=serializers.DictField(),
        help_text="Details that differ from the stored Person and were NOT applied: "
        'field -> {"stored": ..., "given": ...}.',
    )

    class Meta(PatientSerializer.Meta):
        fields = (*PatientSerializer.Meta.fields, "person_reused", "conflicts")
        read_only_fields = fields


class PatientFieldsInput(StrictInputSerializer):
    medical_condition = serializers.PrimaryKeyRelatedField(
        queryset=MedicalCondition.all_objects.all(),
        required=False,
        allow_null=True,
        help_text="Medical condition id (see /api/v1/medical-conditions/); it must be in use.",
    )
    navigator = _navigation_person_field(
        required=False, allow_null=True, help_text="Person id of a patient navigator (a Person holding the role)."
    )
    first_contact_date = serializers.DateField(required=False, allow_null=True, help_text="Today when omitted.")
    initial_consult_date = serializers.DateField(required=False, allow_null=True)


class PatientCreateSerializer(FlatPersonInput, PatientFieldsInput):
    """The person's details and the patient's, in one flat body."""


class PatientUpdateSerializer(FlatPersonInput, PatientFieldsInput):
    """Person details go to the Person (the same one everywhere), the rest to the patient."""

    status = NamedChoiceField(PatientStatus.choices, enum_name="PatientStatusEnum", required=False)


# --- Calls -------------------------------------------------------------------------------------------------


class CallHistorySerializer(FastRepresentationMixin, StrictModelSerializer):
    patient_name = serializers.SerializerMethodField()
    navigator_name = serializers.SerializerMethodField()
    is_void = serializers.BooleanField(read_only=True)
    void_reason = StrictCharField(read_only=True)
    voided_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = CallHistory
        fields = (
            "id",
            "patient",
            "patient_name",
            "navigator",
            "navigator_name",
            "direction",
            "call_date",
            "booking_date",
            "reminder_date",
            "no_show",
            "call_duration_minutes",
            "outcome",
            "notes",
            "created_by",
            "is_active",
            "is_void",
            "void_reason",
            "voided_at",
            *TIMESTAMPS,
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_patient_name(self, call: CallHistory) -> str:
        return call.patient.person.full_name

    @extend_schema_field(NULLABLE_NAME)
    def get_navigator_name(self, call: CallHistory) -> str | None:
        return _name(call.navigator)


class CallFieldsInput(StrictInputSerializer):
    """The CRM document's call: ``direction`` is optional (outbound), and the original API's names
    ``patient_id`` and ``pn_id`` (the navigator's column) are accepted for ``patient`` and ``navigator``."""

    navigator = _navigation_person_field(
        required=False,
        help_text="Person id of the navigator who made or took the call (or `pn_id`); the caller's own Person "
        "when omitted.",
    )
    direction = serializers.ChoiceField(
        choices=CallDirection.choices, required=False, help_text="`outbound` when omitted on creation."
    )
    outcome = serializers.ChoiceField(choices=CallOutcome.choices)
    call_date = serializers.DateTimeField(required=False, help_text="Now when omitted; never in the future.")
    booking_date = serializers.DateTimeField(
        required=False, allow_null=True, help_text="An appointment booked during the call."
    )
    reminder_date = LocalDateField(
        required=False,
        allow_null=True,
        help_text="When to follow up: a date, or a date and time (as the original API sent) whose date in the "
        "server's TIME_ZONE is taken.",
    )
    no_show = serializers.BooleanField(required=False)
    call_duration_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1
    )
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class CallCreateSerializer(CallFieldsInput):
    # Not read here: the service reads the patient once, with its row lock (call_log), and a missing or
    # deleted patient is its 400 on "patient".
    patient = UnreadReferenceField(queryset=Patient.all_objects.all(), help_text="Patient id (or `patient_id`).")
    # Nor the navigator: the service reads them once, with whether they hold the role (navigator_by_id).
    navigator = UnreadReferenceField(
        queryset=persons_in_patient_navigation(),
        required=False,
        help_text="Person id of the navigator who made or took the call (or `pn_id`); the caller's own Person "
        "when omitted.",
    )
    aliases = {"patient_id": "patient", "pn_id": "navigator"}


class CallUpdateSerializer(CallFieldsInput):
    patient = serializers.PrimaryKeyRelatedField(
        queryset=Patient.all_objects.all(),
        required=False,
        help_text="Accepted only unchanged: a call never moves to another patient (void it and log it anew).",
    )
    aliases = {"patient_id": "patient", "pn_id": "navigator"}

    def validate_patient(self, patient: Patient) -> Patient:
        if self.instance is not None and patient.pk != self.instance.patient_id:
            raise serializers.ValidationError("A call never moves to another patient: void it and log it anew.")
        return patient


# --- Physicians --------------------------------------------------------------------------------------------


class PhysicianSerializer(WithPersonSerializer):
    hospital_name = StrictCharField(source="hospital.name", read_only=True, allow_null=True)
    specialization_name = StrictCharField(source="specialization.name", read_only=True, allow_null=True)

    class Meta:
        model = Physician
        fields = (
            "id",
            *PERSON_READ_FIELDS,
            "hospital",
            "hospital_name",
            "specialization",
            "specialization_name",
            "job_title",
            "medical_license_number",
            *SOFT_DELETE_FIELDS,
            *TIMESTAMPS,
        )
        read_only_fields = fields


class PhysicianRegistrationSerializer(PhysicianSerializer):
    person_reused = serializers.BooleanField(read_only=True)
    conflicts = serializers.DictField(read_only=True, child=serializers.DictField())

    class Meta(PhysicianSerializer.Meta):
        fields = (*PhysicianSerializer.Meta.fields, "person_reused", "conflicts")
        read_only_fields = fields


class PhysicianFieldsInput(StrictInputSerializer):
    hospital = serializers.PrimaryKeyRelatedField(
        queryset=Hospital.all_objects.all(), required=False, allow_null=True, help_text="Hospital id (in use)."
    )
    specialization = serializers.PrimaryKeyRelatedField(
        queryset=Specialization.all_objects.all(),
        required=False,
        allow_null=True,
        help_text="Specialization id (in use).",
    )
    job_title = StrictCharField(max_length=150, required=False, allow_blank=True)
    medical_license_number = StrictCharField(max_length=50, required=False, allow_blank=True)


class PhysicianCreateSerializer(FlatPersonInput, PhysicianFieldsInput):
    date_of_birth = None  # not recorded for physicians


class PhysicianUpdateSerializer(FlatPersonInput, PhysicianFieldsInput):
    pass


# --- Leads -------------------------------------------------------------------------------------------------


class PatientLeadSerializer(WithPersonSerializer):
    status = NamedChoiceField(LeadStatus.choices, enum_name="LeadStatusEnum", read_only=True)
    # Blank when the lead did not come from a landing page: a plain string, since "" is not a "uri".
    landing_page_url = StrictCharField(read_only=True, help_text="The page the lead came from, or empty.")
    medical_condition_name = StrictCharField(source="medical_condition.name", read_only=True, allow_null=True)

    class Meta:
        model = PatientLead
        fields = (
            "id",
            *PERSON_READ_FIELDS,
            "medical_condition",
            "medical_condition_name",
            "source",
            "landing_page_url",
            "status",
            "converted_patient",
            "converted_at",
            "notes",
            *TIMESTAMPS,
        )
        read_only_fields = fields


class LeadCreationSerializer(PatientLeadSerializer):
    person_reused = serializers.BooleanField(read_only=True)
    conflicts = serializers.DictField(read_only=True, child=serializers.DictField())
    existing_patient = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The person is already a patient: this is their patient id (pick that record up).",
    )

    class Meta(PatientLeadSerializer.Meta):
        fields = (*PatientLeadSerializer.Meta.fields, "person_reused", "conflicts", "existing_patient")
        read_only_fields = fields


class LeadFieldsInput(StrictInputSerializer):
    medical_condition = serializers.PrimaryKeyRelatedField(
        queryset=MedicalCondition.all_objects.all(), required=False, allow_null=True, help_text="Medical condition id."
    )
    source = serializers.ChoiceField(choices=LeadSource.choices, required=False)
    landing_page_url = StrictCharField(max_length=500, required=False, allow_blank=True)
    notes = StrictCharField(max_length=NOTES_MAX_LENGTH, multiline=True, required=False, allow_blank=True)


class LeadCreateSerializer(FlatPersonInput, LeadFieldsInput):
    pass


class LeadUpdateSerializer(FlatPersonInput, LeadFieldsInput):
    status = NamedChoiceField(
        [c for c in LeadStatus.choices if c[0] != LeadStatus.CONVERTED],
        enum_name="LeadStatusChangeEnum",
        required=False,
        help_text="new, contacted, qualified or lost. Convert with POST .../{id}/convert/.",
    )


class LeadConvertSerializer(StrictInputSerializer):
    navigator = _navigation_person_field(required=False, allow_null=True, help_text="Person id of a navigator.")
    first_contact_date = serializers.DateField(
        required=False, allow_null=True, help_text="The day the lead came in when omitted."
    )


class LeadConversionSerializer(PatientSerializer):
    """The lead's patient, with the lead and whether this call created the patient."""

    lead = PatientLeadSerializer(read_only=True)
    patient_created = serializers.BooleanField(read_only=True)

    class Meta(PatientSerializer.Meta):
        fields = (*PatientSerializer.Meta.fields, "lead", "patient_created")
        read_only_fields = fields
