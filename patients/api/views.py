"""The patient-navigation API: each view checks the request's shape and calls a service of
``patients.services`` (or ``people.services``), which holds every rule."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, router
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from common.api.compiled import compiled_get
from common.api.permissions import action_permission
from patients import services
from patients.api.serializers import (
    CallCreateSerializer,
    CallHistorySerializer,
    CallUpdateSerializer,
    HospitalSerializer,
    HospitalWriteSerializer,
    LeadConversionSerializer,
    LeadConvertSerializer,
    LeadCreateSerializer,
    LeadCreationSerializer,
    LeadUpdateSerializer,
    MedicalConditionSerializer,
    MedicalConditionWriteSerializer,
    PatientCreateSerializer,
    PatientLeadSerializer,
    PatientRegistrationSerializer,
    PatientSerializer,
    PatientUpdateSerializer,
    PhysicianCreateSerializer,
    PhysicianRegistrationSerializer,
    PhysicianSerializer,
    PhysicianUpdateSerializer,
    SpecializationSerializer,
    SpecializationWriteSerializer,
)
from patients.filters import (
    CallHistoryFilterSet,
    HospitalFilterSet,
    MedicalConditionFilterSet,
    PatientFilterSet,
    PatientLeadFilterSet,
    PhysicianFilterSet,
    SpecializationFilterSet,
)
from patients.models import CallHistory, Hospital, MedicalCondition, Patient, PatientLead, Physician, Specialization
from patients.selectors import patient_calls, physicians_list
from people.api.base import (
    PERSON_FIELDS,
    NavigationViewSetMixin,
    ServiceUpdateMixin,
    SoftDeleteViewSetMixin,
    validated,
)

# ?ordering=last_name sorts by the Person's name (the lookup itself, so the count needs no join).
PERSON_ORDERING = {"last_name": "person__last_name", "first_name": "person__first_name"}


def _with_email(data: dict) -> dict:
    # The registration services take ``email`` without a default: a person may have none, said explicitly.
    data.setdefault("email", None)
    return data


def _split_person(data: dict) -> tuple[dict, dict]:
    person = {name: data.pop(name) for name in PERSON_FIELDS if name in data}
    return person, data


def _update_schemas(write, read, noun: str) -> dict:
    return {
        # PUT takes partial bodies too (see ServiceUpdateMixin): one "Patched" request shape for both.
        "update": extend_schema(request=write(partial=True), responses=read, summary=f"Change {noun}"),
        "partial_update": extend_schema(request=write(partial=True), responses=read, summary=f"Change {noun}"),
    }


# --- Lookups -----------------------------------------------------------------------------------------------


@extend_schema(tags=["medical-conditions"])
@extend_schema_view(
    list=extend_schema(summary="List medical conditions (active ones unless ?is_active=false)"),
    retrieve=extend_schema(summary="Get a medical condition"),
    create=extend_schema(
        request=MedicalConditionWriteSerializer,
        responses={201: MedicalConditionSerializer},
        summary="Add a medical condition",
        description="Names and abbreviations are unique ignoring case: a duplicate (even of a deleted "
        "condition) is a 409 whose `existing_id` is that condition.",
    ),
    **_update_schemas(MedicalConditionWriteSerializer, MedicalConditionSerializer, "a medical condition"),
)
class MedicalConditionViewSet(
    NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet
):
    """The single lookup of medical conditions. DELETE retires one (``is_active=false``): patients keep it,
    new records cannot pick it."""

    queryset = MedicalCondition.all_objects.all()
    serializer_class = MedicalConditionSerializer
    update_serializer_class = MedicalConditionWriteSerializer
    filterset_class = MedicalConditionFilterSet
    search_fields = ("name", "abbreviation")
    ordering_fields = ("name", "abbreviation", "created_at")
    soft_delete_service = services.medical_condition_soft_delete
    restore_service = services.medical_condition_restore
    service_kwarg = "medical_condition"
    retired_rows_readable_by_all = True

    def get_queryset(self):
        return self.visible(MedicalCondition.all_objects.all()).order_by("name", "id")

    def create(self, request, *args, **kwargs):
        data = validated(MedicalConditionWriteSerializer, request.data)
        condition = services.medical_condition_create(**data, actor=request.user)
        return Response(self.get_serializer(condition).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        return services.medical_condition_update(medical_condition=instance, data=data, actor=self.request.user)


@extend_schema(tags=["hospitals"])
@extend_schema_view(
    create=extend_schema(
        request=HospitalWriteSerializer, responses={201: HospitalSerializer}, summary="Add a hospital"
    ),
    **_update_schemas(HospitalWriteSerializer, HospitalSerializer, "a hospital"),
)
class HospitalViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """Hospitals where physicians work; one per name within a city and country (a duplicate is a 409)."""

    queryset = Hospital.all_objects.all()
    serializer_class = HospitalSerializer
    update_serializer_class = HospitalWriteSerializer
    filterset_class = HospitalFilterSet
    search_fields = ("name", "city", "country")
    ordering_fields = ("name", "city", "country", "created_at")
    soft_delete_service = services.hospital_soft_delete
    restore_service = services.hospital_restore
    service_kwarg = "hospital"
    retired_rows_readable_by_all = True

    def get_queryset(self):
        return self.visible(Hospital.all_objects.all()).order_by("name", "city", "id")

    def create(self, request, *args, **kwargs):
        data = validated(HospitalWriteSerializer, request.data)
        hospital = services.hospital_create(**data, actor=request.user)
        return Response(self.get_serializer(hospital).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        return services.hospital_update(hospital=instance, data=data, actor=self.request.user)


@extend_schema(tags=["specializations"])
@extend_schema_view(
    create=extend_schema(
        request=SpecializationWriteSerializer,
        responses={201: SpecializationSerializer},
        summary="Add a specialization",
    ),
    **_update_schemas(SpecializationWriteSerializer, SpecializationSerializer, "a specialization"),
)
class SpecializationViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """Physicians' specialties; names are unique ignoring case (a duplicate is a 409)."""

    queryset = Specialization.all_objects.all()
    serializer_class = SpecializationSerializer
    update_serializer_class = SpecializationWriteSerializer
    filterset_class = SpecializationFilterSet
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    soft_delete_service = services.specialization_soft_delete
    restore_service = services.specialization_restore
    service_kwarg = "specialization"
    retired_rows_readable_by_all = True

    def get_queryset(self):
        return self.visible(Specialization.all_objects.all()).order_by("name", "id")

    def create(self, request, *args, **kwargs):
        data = validated(SpecializationWriteSerializer, request.data)
        specialization = services.specialization_create(**data, actor=request.user)
        return Response(self.get_serializer(specialization).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        return services.specialization_update(specialization=instance, data=data, actor=self.request.user)


# --- Patients ----------------------------------------------------------------------------------------------


@extend_schema(tags=["patients"])
@extend_schema_view(
    list=extend_schema(summary="List patients"),
    retrieve=extend_schema(
        summary="Get a patient",
        description="The patient of a merged person (merged into another person's patient) answers `308` to "
        "the patient it was merged into.",
    ),
    create=extend_schema(
        request=PatientCreateSerializer,
        responses={201: PatientRegistrationSerializer},
        summary="Register a patient (the returning-patient rule)",
        description="The person's details are sent flat with the patient's. The Person is looked up by email "
        "(ignoring case and surrounding spaces) and reused, never duplicated: `person_reused` says so, and "
        "`conflicts` lists given details that differ from the stored ones (they are not applied). A person "
        "who already is a patient is a 409 whose `existing_id` is that patient.",
    ),
    **_update_schemas(PatientUpdateSerializer, PatientSerializer, "a patient"),
)
class PatientViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """Patients with their Person. Person fields in a PUT / PATCH change the Person (the same one everywhere)."""

    queryset = Patient.all_objects.all()
    serializer_class = PatientSerializer
    update_serializer_class = PatientUpdateSerializer
    filterset_class = PatientFilterSet
    search_fields = ("person__first_name", "person__last_name", "person__email", "person__phone")
    ordering_fields = ("last_name", "first_name", "created_at", "updated_at", "status", "first_contact_date")
    ordering_aliases = PERSON_ORDERING
    soft_delete_service = services.patient_soft_delete
    restore_service = services.patient_restore
    service_kwarg = "patient"

    def get_queryset(self):
        if self.action == "calls":
            # The calls show the patient's name only: its Person, not its condition and navigator too.
            return self.visible(Patient.all_objects.select_related("person"))
        # The Person's id breaks ties (one patient per Person): the order is then exactly the Person's name
        # index (last_name, first_name, id), which PostgreSQL walks instead of sorting every patient.
        patients = Patient.all_objects.select_related("person", "medical_condition", "navigator").order_by(
            "person__last_name", "person__first_name", "person_id"
        )
        return self.visible(patients)

    def get_object(self):
        if self.action != "retrieve":
            return super().get_object()
        # The detail's SQL depends only on whether the caller sees deleted patients (get_queryset, visible):
        # compiled once per answer (common.api.compiled), not per request. No object permissions here.
        patient = compiled_get(
            ("patients.retrieve", self.retired_rows_readable_by_all or self.may_restore()),
            self.get_queryset,
            self.kwargs[self.lookup_url_kwarg or self.lookup_field],
            using=router.db_for_read(Patient) or DEFAULT_DB_ALIAS,
        )
        self.check_object_permissions(self.request, patient)
        self.note_phi_access(patient)
        return patient

    def retrieve(self, request, *args, **kwargs):
        from common.merge.api import is_merged_record, redirect_if_merged_record, retrieve_unless_merged

        return retrieve_unless_merged(
            self,
            merged=is_merged_record,
            redirect=lambda: redirect_if_merged_record(
                request, model=Patient, pk=kwargs.get("pk"), url_name="patient-detail", queryset=self.get_queryset()
            ),
        )

    def get_permissions(self):
        if self.action == "calls":
            return [IsAuthenticated(), action_permission("patients.view_patient", "patients.view_callhistory")()]
        return super().get_permissions()

    def create(self, request, *args, **kwargs):
        data = _with_email(validated(PatientCreateSerializer, request.data))
        registration = services.patient_register(**data, actor=request.user)
        # The patient as registered, with the Person, condition and navigator the service holds: no re-read.
        body = PatientSerializer(registration.patient).data
        body.update(person_reused=registration.person_reused, conflicts=registration.conflicts)
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        person_data, patient_data = _split_person(data)
        return services.update_with_person(
            person=instance.person,
            person_data=person_data,
            update=lambda: services.patient_update(patient=instance, data=patient_data, actor=self.request.user),
            actor=self.request.user,
        )

    @extend_schema(
        request=None,
        responses=CallHistorySerializer(many=True),
        parameters=[
            OpenApiParameter("is_active", bool, description="`false`: only voided calls."),
            OpenApiParameter("include_inactive", bool, description="`true`: voided calls too."),
        ],
        summary="A patient's calls, newest first",
        description="Paginated. Accepts the filters of `/api/v1/call-history/` as well.",
    )
    @action(detail=True, methods=["get"])
    def calls(self, request, *args, **kwargs):
        patient = self.get_object()
        # Only the navigator is joined: the patient is the one loaded above, and the author is shown by id.
        calls = patient_calls(patient=patient, include_void=True).select_related(None).select_related("navigator")
        if not request.user.has_perm("patients.change_callhistory"):
            calls = calls.filter(is_active=True)  # only those who may restore a void see voided calls
        filters = CallHistoryFilterSet(data=request.query_params, queryset=calls, request=request)
        if not filters.is_valid():
            raise translate_validation(filters.errors)
        page = self.paginate_queryset(filters.qs)
        for call in page:
            call.patient = patient
        return self.get_paginated_response(CallHistorySerializer(page, many=True).data)


# --- Calls -------------------------------------------------------------------------------------------------


@extend_schema(tags=["call-history"])
@extend_schema_view(
    list=extend_schema(summary="List calls, newest first (voided calls only with ?is_active=false)"),
    retrieve=extend_schema(summary="Get a call"),
    create=extend_schema(
        request=CallCreateSerializer,
        responses={201: CallHistorySerializer},
        summary="Log a call",
        description="Every call is a new row, never an overwrite. `navigator` defaults to the caller's own "
        "Person and must hold the navigator role at `call_date`.",
    ),
    destroy=extend_schema(
        summary="Void a call",
        description="The call stays, marked void with who, when and why (`reason`, optional, in the JSON body "
        "or the query string); `POST .../{id}/restore/` undoes it.",
    ),
    **_update_schemas(CallUpdateSerializer, CallHistorySerializer, "a call"),
)
class CallHistoryViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """The call history. Calls are voided, never deleted; navigators may void and restore."""

    queryset = CallHistory.all_objects.all()
    serializer_class = CallHistorySerializer
    update_serializer_class = CallUpdateSerializer
    filterset_class = CallHistoryFilterSet
    # Not "notes": free text on the largest table, no index (docs/PERFORMANCE.md, "Search").
    search_fields = ("patient__person__first_name", "patient__person__last_name", "patient__person__email")
    ordering_fields = ("call_date", "created_at", "reminder_date", "outcome")
    soft_delete_service = services.call_void
    restore_service = services.call_restore
    service_kwarg = "call"
    restore_permission = "patients.change_callhistory"
    default_reason = "Voided through the API by {username}."

    def get_queryset(self):
        calls = CallHistory.all_objects.select_related("patient__person", "navigator").order_by(
            "-call_date", "-created_at", "id"
        )
        return self.visible(calls)

    def create(self, request, *args, **kwargs):
        data = validated(CallCreateSerializer, request.data)
        call = services.call_log(**data, actor=request.user)
        # The call as logged, with the patient (and Person) and navigator the service holds: no re-read.
        return Response(self.get_serializer(call).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        data.pop("patient", None)  # checked unchanged by the serializer
        return services.call_update(call=instance, data=data, actor=self.request.user)


# --- Physicians --------------------------------------------------------------------------------------------


@extend_schema(tags=["physicians"])
@extend_schema_view(
    create=extend_schema(
        request=PhysicianCreateSerializer,
        responses={201: PhysicianRegistrationSerializer},
        summary="Register a physician",
        description="The Person is found by email and reused as for patients; a person who already is a "
        "physician is a 409 whose `existing_id` is that physician.",
    ),
    **_update_schemas(PhysicianUpdateSerializer, PhysicianSerializer, "a physician"),
)
class PhysicianViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """Physicians with their Person, hospital and specialization."""

    queryset = Physician.all_objects.all()
    serializer_class = PhysicianSerializer
    update_serializer_class = PhysicianUpdateSerializer
    filterset_class = PhysicianFilterSet
    search_fields = ("person__first_name", "person__last_name", "person__email", "medical_license_number")
    ordering_fields = ("last_name", "first_name", "created_at")
    ordering_aliases = PERSON_ORDERING
    soft_delete_service = services.physician_soft_delete
    restore_service = services.physician_restore
    service_kwarg = "physician"

    def get_queryset(self):
        physicians = Physician.all_objects.select_related("person", "hospital", "specialization").order_by(
            "person__last_name", "person__first_name", "person_id"
        )
        return self.visible(physicians_list(physicians))

    def create(self, request, *args, **kwargs):
        data = _with_email(validated(PhysicianCreateSerializer, request.data))
        registration = services.physician_register(**data, actor=request.user)
        body = PhysicianSerializer(self.reload(registration.physician)).data
        body.update(person_reused=registration.person_reused, conflicts=registration.conflicts)
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        person_data, physician_data = _split_person(data)
        return services.update_with_person(
            person=instance.person,
            person_data=person_data,
            update=lambda: services.physician_update(physician=instance, data=physician_data, actor=self.request.user),
            actor=self.request.user,
        )


# --- Leads -------------------------------------------------------------------------------------------------


@extend_schema(tags=["leads"])
@extend_schema_view(
    list=extend_schema(summary="List leads, newest first"),
    retrieve=extend_schema(summary="Get a lead"),
    create=extend_schema(
        request=LeadCreateSerializer,
        responses={201: LeadCreationSerializer},
        summary="Record a lead",
        description="The Person is found by email and reused as for patients. A person with an open lead is a "
        "409 whose `existing_id` is that lead. `existing_patient` names the person's patient record, if any.",
    ),
    **_update_schemas(LeadUpdateSerializer, PatientLeadSerializer, "a lead"),
)
class PatientLeadViewSet(
    NavigationViewSetMixin,
    ServiceUpdateMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Leads: interest not yet converted. A lead is never deleted: mark it ``lost`` (PATCH status)."""

    queryset = PatientLead.objects.all()
    serializer_class = PatientLeadSerializer
    update_serializer_class = LeadUpdateSerializer
    filterset_class = PatientLeadFilterSet
    search_fields = ("person__first_name", "person__last_name", "person__email", "person__phone")
    ordering_fields = ("created_at", "updated_at", "status", "last_name")
    ordering_aliases = PERSON_ORDERING

    def get_queryset(self):
        return PatientLead.objects.select_related("person", "medical_condition").order_by("-created_at", "id")

    def get_permissions(self):
        if self.action == "convert":
            return [IsAuthenticated(), action_permission("patients.change_patientlead", "patients.add_patient")()]
        return super().get_permissions()

    def create(self, request, *args, **kwargs):
        data = _with_email(validated(LeadCreateSerializer, request.data))
        creation = services.lead_create(**data, actor=request.user)
        body = PatientLeadSerializer(self.reload(creation.lead)).data
        body.update(
            person_reused=creation.person_reused,
            conflicts=creation.conflicts,
            existing_patient=str(creation.existing_patient.pk) if creation.existing_patient else None,
        )
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        person_data, lead_data = _split_person(data)
        return services.update_with_person(
            person=instance.person,
            person_data=person_data,
            update=lambda: services.lead_update(lead=instance, data=lead_data, actor=self.request.user),
            actor=self.request.user,
        )

    @extend_schema(
        request=LeadConvertSerializer,
        responses={201: LeadConversionSerializer, 200: LeadConversionSerializer},
        summary="Convert a lead into a patient",
        description="Creates (or finds) the patient of the lead's person, closes the lead role and opens the "
        "patient role. 201 when the patient was created, 200 when it existed already (converting twice is "
        "harmless). The body is the patient, with `lead` and `patient_created`.",
    )
    @action(detail=True, methods=["post"])
    def convert(self, request, *args, **kwargs):
        lead = self.get_object()
        data = validated(LeadConvertSerializer, request.data)
        conversion = services.lead_convert(lead=lead, **data, actor=request.user)
        patient = Patient.all_objects.select_related("person", "medical_condition", "navigator").get(
            pk=conversion.patient.pk
        )
        body = PatientSerializer(patient).data
        body.update(
            lead=PatientLeadSerializer(self.reload(conversion.lead)).data, patient_created=conversion.patient_created
        )
        return Response(body, status=status.HTTP_201_CREATED if conversion.patient_created else status.HTTP_200_OK)
