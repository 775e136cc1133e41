"""The CM desk's admin base: scopes, the dashboard links, and the service-backed form and admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect

from cm_program import admin_views, selectors
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQMatchCandidate,
    IntakeQPatient,
)
from common.admin import CrmModelAdmin, register_dashboard_link
from common.errors import ConflictError

SCOPES = {
    CanonicalPatient: selectors.canonical_patients_visible_to,
    CMPatient: selectors.cm_patients_visible_to,
    IntakeQPatient: selectors.intakeq_patients_visible_to,
    IntakeQLink: selectors.intakeq_links_visible_to,
    IntakeQMatchCandidate: selectors.intakeq_match_candidates_visible_to,
    CMProvider: selectors.cm_providers_visible_to,
    CMProgram: selectors.cm_programs_visible_to,
    CMEnrollment: selectors.cm_enrollments_visible_to,
    CMPointsTransaction: selectors.points_transactions_visible_to,
}


def _sees_all(user) -> bool:
    return selectors.cm_scope(user) == "all"


def _is_cpss_desk(user) -> bool:
    return selectors.cm_scope(user) == "caseload"


register_dashboard_link(
    title="CPSS caseloads",
    url_name="admin:cm_program_cmprovider_caseloads",
    description="Each CPSS's active patients against their maximum, patients without an event in 7 days, "
    "points this week; CSV download.",
    allowed=_sees_all,
)
register_dashboard_link(
    title="Dual enrollments",
    url_name="admin:cm_program_canonicalpatient_dual_enrollments",
    description="Patients who are both IntakeQ (psychiatry) patients and CM patients.",
    allowed=_sees_all,
)
register_dashboard_link(
    title="My caseload",
    url_name="admin:cm_program_cmenrollment_changelist",
    description="Your CM patients: points, streaks, and when each was last seen. Open one to record an event.",
    allowed=_is_cpss_desk,
)


class _DryRun(Exception):
    pass


class SaveRefused(Exception):
    """The service refused on the real save after the form's dry run had passed (a concurrent change)."""


class ServiceForm(forms.ModelForm):
    """A model form whose ``clean`` rehearses the admin's service call (see the module docstring)."""

    request = None
    model_admin: ServiceAdmin | None = None
    _service_refused = False

    def clean(self):
        cleaned = super().clean()
        if self._errors or self.model_admin is None:
            return cleaned
        try:
            with transaction.atomic():
                self.model_admin.run_service(self.request, self.instance, self)
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as exc:
            self._service_refused = True
            self._add_service_errors(exc)
        except ConflictError as exc:
            self._service_refused = True
            self._add_error_to(exc.field, exc.message)
        except IntegrityError:
            self._service_refused = True
            self.add_error(None, admin_views.RACE_MESSAGE)
        return cleaned

    def _post_clean(self):
        # The service said why it refuses, against the right field; the model's own checks would
        # repeat the same rule as a general error.
        if not self._service_refused:
            super()._post_clean()

    def _add_error_to(self, field: str | None, message) -> None:
        self.add_error(field if field in self.fields else None, message)

    def _add_service_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                for error in errors:
                    target = None if field == NON_FIELD_ERRORS else field
                    self._add_error_to(target, error.messages)
        else:
            self.add_error(None, exc.messages)


class ScopedAdmin(CrmModelAdmin):
    """Limits rows and foreign-key choices to what the user may see (a CPSS: their caseload). The base
    gives the audit-trail history page and estimated counts on large unfiltered lists."""

    def get_queryset(self, request):
        return SCOPES[self.model](request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if related in SCOPES and "queryset" not in kwargs:
            kwargs["queryset"] = SCOPES[related](request.user, related._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ServiceAdmin(ScopedAdmin):
    """An admin whose adds and changes are made by a service (``create`` / ``change``)."""

    form = ServiceForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    def form_changes(self, form) -> dict[str, Any]:
        return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}

    def run_service(self, request, obj, form):
        if obj.pk is None or obj._state.adding:
            return self.create(request, form)
        return self.change(request, obj, form)

    def create(self, request, form):
        raise NotImplementedError

    def change(self, request, obj, form):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        try:
            with transaction.atomic():
                saved = self.run_service(request, obj, form)
        except (ValidationError, ConflictError, IntegrityError) as exc:
            raise SaveRefused(admin_views.refusal_text(exc)) from exc
        # The admin keeps working with ``obj`` (logging, redirect): make it the saved row.
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SaveRefused as exc:
            # The admin's own transaction was rolled back: nothing of this save remains.
            self.message_user(
                request, f"Not saved: {exc} Nothing was changed; the page shows the current values.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())


def _actor(request):
    return request.user
