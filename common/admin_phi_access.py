"""The PHI access log in the admin: read-only, for superusers only ("who looked at this patient").

Nobody may add, change or delete an entry (the table refuses it too); nobody but a superuser sees the
list, not even a supervisor. Filters: the patient (a Person id or a CM canonical patient id: either
finds the entries of both, as one human may be known by both), user, channel, what was viewed, when.
The search box takes a user name, or any id (patient, Person, canonical patient, record).
"""

from __future__ import annotations

import uuid

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q

from common.admin import EstimatedCountPaginator
from common.admin_filters import NameBoxFilter
from common.models import PHIAccess
from common.phi_access import EXPORTS, PHI_RESOURCES


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (TypeError, ValueError):
        return None


def entries_about(human_id: uuid.UUID) -> Q:
    """Entries about the human with this Person id or canonical patient id, under either id."""
    canonical = apps.get_model("cm_program", "CanonicalPatient")
    return (
        Q(person_id=human_id)
        | Q(canonical_patient_id=human_id)
        | Q(canonical_patient_id__in=canonical.objects.filter(person_id=human_id).values("pk"))
        | Q(person_id__in=canonical.objects.filter(pk=human_id, person_id__isnull=False).values("person_id"))
    )


class PatientFilter(admin.SimpleListFilter):
    """``?patient=<id>``: what the "who looked at this patient" links open."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        # Only the patient asked for (a filter without choices would be skipped, showing every entry).
        return [(self.value(), f"Patient {self.value()}")] if self.value() else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        value = _as_uuid(self.value())
        return queryset.filter(entries_about(value)) if value else queryset.none()


class ResourceFilter(admin.SimpleListFilter):
    title = "what"
    parameter_name = "resource"

    def lookups(self, request, model_admin):
        records = [(label, apps.get_model(label)._meta.verbose_name.capitalize()) for label in PHI_RESOURCES]
        return [*records, *EXPORTS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(resource_type=self.value()) if self.value() else queryset


class UserFilter(NameBoxFilter):
    """Staff logins (only staff open patient records): a name box, not every login in the sidebar."""

    title = "user"
    parameter_name = "user"
    field_path = "user"
    name_fields = ("username", "first_name", "last_name", "email")
    order_by = ("username",)

    def candidates(self, request):
        return get_user_model().objects.filter(is_staff=True)

    def label(self, obj) -> str:
        return obj.get_username()


@admin.register(PHIAccess)
class PHIAccessAdmin(admin.ModelAdmin):
    list_display = (
        "accessed_at",
        "user",
        "channel",
        "access_type",
        "resource_type",
        "resource_id",
        "person_id",
        "canonical_patient_id",
        "record_count",
        "client_ip",
        "request_id",
    )
    list_filter = (
        PatientFilter,
        UserFilter,
        "channel",
        "access_type",
        ResourceFilter,
        ("accessed_at", admin.DateFieldListFilter),
    )
    list_select_related = ("user",)
    search_fields = ("user__username",)
    search_help_text = "A user name, or the id of a patient, Person, canonical patient or record."
    ordering = ("-accessed_at", "-id")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    @staticmethod
    def _superuser(request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        value = _as_uuid(search_term)
        if value is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(entries_about(value) | Q(resource_id=str(value))), False
