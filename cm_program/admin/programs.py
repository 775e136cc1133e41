"""Admin of the CM programs and their points schedules."""

from __future__ import annotations

from django.contrib import admin

from cm_program import services
from cm_program.admin._common import ServiceAdmin, _actor
from cm_program.models import (
    CMProgram,
)


@admin.register(CMProgram)
class CMProgramAdmin(ServiceAdmin):
    list_display = ("name", "is_active", *CMProgram.SCHEDULE_FIELDS)
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        (
            "Reinforcement schedule (points)",
            {
                "description": "A negative test earns base + increment x consecutive negatives so far, up to the "
                "cap; a positive or missed test resets the streak and the value to the base.",
                "fields": CMProgram.SCHEDULE_FIELDS,
            },
        ),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    # The API's rules: a name unique ignoring case, point values never negative, cap not below base.
    def create(self, request, form):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.PROGRAM_FIELDS}
        return services.cm_program_create(actor=_actor(request), **data)

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.PROGRAM_FIELDS}
        return services.cm_program_update(program=obj, actor=_actor(request), **changes)
