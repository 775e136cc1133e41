"""Forms, mixins and cells shared by the patient-navigation admins."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from patients.models import (
    MedicalCondition,
)
from people.admin import (
    admin_link,
    email_owner,
)
from people.normalize import clean_email
from people.selectors import navigators
from people.services import UNUSABLE_EMAIL_MESSAGE, person_by_email, person_usable_by

RECORD_FIELDS = ("created_at", "updated_at", "is_active", "deleted_at", "deleted_by", "deletion_reason")


def _record_fieldset(fields=RECORD_FIELDS):
    return ("Record", {"classes": ("collapse",), "fields": fields})


class PersonDetailsForm(forms.ModelForm):
    """For adding a lead, patient or physician: the person's details, matched by email to an existing
    Person by the service (the returning-person rule) instead of picking or duplicating one.

    The form looks the email up first so that a refusal can say who has the email and link to them;
    the service checks again under a lock, which is what holds under concurrency."""

    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.CharField(
        max_length=254, required=False, help_text="If a person already has this email, that person is reused."
    )
    phone = forms.CharField(max_length=40, required=False)
    date_of_birth = forms.DateField(required=False, widget=admin.widgets.AdminDateWidget)

    PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")
    actor = None  # the acting user, set by ``PersonScopeAdminMixin.get_form``

    def clean_email(self):
        raw = self.cleaned_data.get("email")
        try:
            email = clean_email(raw)
        except ValidationError:
            return raw  # the service refuses it, together with every other detail that is wrong
        owner = person_by_email(email) if email else None
        if owner is not None:
            if not person_usable_by(owner, self.actor):
                # Someone outside the user's scope: the services' neutral refusal, naming nobody.
                raise ValidationError(UNUSABLE_EMAIL_MESSAGE)
            if not owner.is_active:
                raise ValidationError(format_html("This email belongs to {}.", email_owner(owner)))
            error = self.email_taken(owner)
            if error:
                raise ValidationError(error)
        return email

    def email_taken(self, owner):
        """The refusal when ``owner`` (an active Person) already has the email, or None to reuse them."""
        return None

    def person_details(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.PERSON_FIELDS if name in self.fields}


class NavigatorChoiceMixin:
    """Offer only persons who hold the navigator role in the navigator fields."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "navigator":
            kwargs["queryset"] = navigators()
        elif db_field.name == "medical_condition":
            kwargs["queryset"] = MedicalCondition.objects.all()  # retired conditions cannot be picked
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _condition_cell(condition: MedicalCondition | None) -> str:
    if condition is None:
        return "-"
    return format_html('<span title="{}">{}</span>', condition.name, condition.abbreviation or condition.name)


def _reused_person_message(modeladmin, request, person) -> None:
    modeladmin.message_user(
        request, format_html("Recorded on the existing person record of {}.", admin_link(person)), messages.INFO
    )
