"""Admins of the lookups: medical conditions, hospitals, specializations."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
)
from patients import services
from patients.admin_filters import (
    SoftDeletedFilter,
)
from patients.models import (
    Hospital,
    MedicalCondition,
    Patient,
    Specialization,
)


@admin.register(MedicalCondition)
class MedicalConditionAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "abbreviation", "patient_count", "is_active")
    list_filter = (SoftDeletedFilter,)
    search_fields = ("name", "abbreviation")
    readonly_fields = ("created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.medical_condition_soft_delete
    restore_service = services.medical_condition_restore
    service_kwarg = "medical_condition"
    ordering = ("name", "pk")

    @admin.display(description="patients", ordering="_patients")
    def patient_count(self, obj: MedicalCondition) -> int:
        return obj._patients

    def get_queryset(self, request):
        # A count per listed condition (an index-only scan of patient_medical_condition_id), not a join of
        # every patient grouped by condition: 960 ms -> ~50 ms for the changelist at 500,000 patients.
        patients = (
            Patient.all_objects.filter(medical_condition=OuterRef("pk"))
            .order_by()
            .values("medical_condition")
            .annotate(n=Count("*"))  # COUNT(*): the index alone answers it (COUNT(id) reads every row)
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(_patients=Coalesce(Subquery(patients, output_field=IntegerField()), Value(0)))
        )

    def save_model(self, request, obj, form, change):
        if change:
            # The same service as the API: names stay unique ignoring case, trimmed, conflicts named.
            data = {
                f: form.cleaned_data[f] for f in form.changed_data if f in services.MEDICAL_CONDITION_EDITABLE_FIELDS
            }
            if data:
                self.adopt(
                    obj,
                    services.medical_condition_update(
                        medical_condition=MedicalCondition.all_objects.get(pk=obj.pk), data=data, actor=request.user
                    ),
                )
        else:
            self.adopt(
                obj,
                services.medical_condition_create(
                    name=obj.name, abbreviation=obj.abbreviation, description=obj.description, actor=request.user
                ),
            )


@admin.register(Hospital)
class HospitalAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "city", "country", "is_active")
    list_filter = (SoftDeletedFilter, "country")
    search_fields = ("name", "city", "country")
    # is_active changes only through "delete (with a reason)" and "restore".
    readonly_fields = ("is_active", "created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.hospital_soft_delete
    restore_service = services.hospital_restore
    service_kwarg = "hospital"

    def save_model(self, request, obj, form, change):
        # The API's service: trimmed, one hospital per name + city + country ignoring case, its id named.
        values = {name: form.cleaned_data[name] for name in services.HOSPITAL_EDITABLE_FIELDS}
        if not change:
            self.adopt(obj, services.hospital_create(**values, actor=request.user))
            return
        data = {name: values[name] for name in form.changed_data if name in values}
        if data:
            stored = Hospital.all_objects.get(pk=obj.pk)
            self.adopt(obj, services.hospital_update(hospital=stored, data=data, actor=request.user))


@admin.register(Specialization)
class SpecializationAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "is_active")
    list_filter = (SoftDeletedFilter,)
    search_fields = ("name",)
    readonly_fields = ("is_active", "created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.specialization_soft_delete
    restore_service = services.specialization_restore
    service_kwarg = "specialization"

    def save_model(self, request, obj, form, change):
        # The API's service: trimmed, unique ignoring case, a clash names the existing specialty.
        name = form.cleaned_data["name"]
        if not change:
            self.adopt(obj, services.specialization_create(name=name, actor=request.user))
        elif "name" in form.changed_data:
            stored = Specialization.all_objects.get(pk=obj.pk)
            self.adopt(
                obj, services.specialization_update(specialization=stored, data={"name": name}, actor=request.user)
            )
