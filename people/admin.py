"""People admin: persons (one per human, one per email), roles and their periods, staff logins.

Also the helpers the other patient-navigation admins share: links to a person and their records and the
"who already has this email" message.
"""

from __future__ import annotations

import phonenumbers
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from common.admin import CrmModelAdmin, ServiceAdminMixin, SoftDeleteAdminMixin, register_dashboard_link
from common.admin_duplicates import PANEL_SIZE, DuplicatePairAdmin, duplicates_panel
from common.errors import ConflictError
from common.validation import FieldErrors
from people import services
from people.cross_program import CROSS_PROGRAM_SCOPE, cross_program_view
from people.models import (
    ContactType,
    MergeRequestStatus,
    Person,
    PersonContactType,
    PersonDuplicatePair,
    PersonMergeRequest,
    User,
)
from people.normalize import clean_email, normalize_phone
from people.selectors import (
    may_review_person_duplicates,
    navigators,
    person_duplicate_candidates,
    person_duplicate_pairs,
    persons_visible_to,
)


def admin_link(obj, label: str | None = None) -> str:
    """A link to ``obj``'s admin change page ("-" for nothing)."""
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def display_phone(value: str) -> str:
    """+18015550123 -> +1 801-555-0123 (stored numbers are E.164; people read them grouped)."""
    if not value:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(value), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return value


def contact_cell(person: Person) -> str:
    """Email over phone, for a list column."""
    email, phone = person.email, display_phone(person.phone)
    if email and phone:
        return format_html("{}<br>{}", email, phone)
    return email or phone or "-"


def name_cell(text: str, *, deleted: bool) -> str:
    """A row's name, marked when the row is soft-deleted (lists show deleted rows to those who restore)."""
    return format_html('{} <span class="crm-badge crm-deleted">deleted</span>', text) if deleted else text


class SoftDeletedFilter(admin.SimpleListFilter):
    """Current rows or soft-deleted ones, in the list's own words ("deleted", "void")."""

    title = "deleted"
    parameter_name = "deleted"
    labels = (("no", "Not deleted"), ("yes", "Deleted"))

    def lookups(self, request, model_admin):
        return self.labels

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in ("no", "yes"):
            raise IncorrectLookupParameters(f"Unknown value '{value}'.")
        return queryset.filter(is_active=value == "no")


class RoleFilter(admin.SimpleListFilter):
    """Persons who hold, or held, a role (a contact type) in any period: ``?role=<code>``.

    A subquery on the role periods (``pk IN``), not Django's related-field filter: that one joins the periods
    and makes the list ``SELECT DISTINCT`` over every column, counted and sorted whole (2.8 s for the 60,000
    caregivers of 1M persons, docs/PERFORMANCE.md "Admin pages at full size, round 2")."""

    title = "contact type"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        types = list(ContactType.objects.order_by("name").values_list("code", "name", "pk"))
        self.type_ids = {code: pk for code, _, pk in types}
        return [(code, name) for code, name, _ in types]

    def queryset(self, request, queryset):
        code = self.value()
        if code is None:
            return queryset
        if code not in self.type_ids:
            raise IncorrectLookupParameters(f"Unknown role '{code}'.")
        # By the contact type's key, not its code through a join: the planner then knows how many hold it
        # (60,000 caregivers, 500 navigators) and reads them off person_role_holders_idx.
        holders = PersonContactType.objects.filter(contact_type_id=self.type_ids[code]).values("person_id")
        return queryset.filter(pk__in=holders)


def email_owner(person: Person) -> SafeString:
    """ "<Ann Lee> (ann@x.org), a patient: <patient record>" with links, for duplicate-email messages."""
    deleted = "" if person.is_active else " (deleted: restore them rather than adding someone new)"
    text = format_html("{} ({}){}", admin_link(person), person.email, deleted)
    patient = getattr(person, "patient", None)  # the reverse one-to-one; None when not a patient
    if patient is not None:
        state = "" if patient.is_active else ", deleted"
        text = format_html("{}, a patient: {}{}", text, admin_link(patient, "open the patient record"), state)
    return text


def duplicate_email_error(email: str | None, *, actor, exclude: Person | None = None) -> SafeString | str | None:
    """The form error for an email (normalised) that another Person already has, or None. A Person the
    actor may not use is the services' neutral refusal: no name, no link."""
    if not email:
        return None
    owner = services.person_by_email(email)
    if owner is None or (exclude is not None and owner.pk == exclude.pk):
        return None
    if not services.person_usable_by(owner, actor):
        return services.UNUSABLE_EMAIL_MESSAGE
    return format_html(
        "A person with this email already exists: {}. Open that record instead of adding the same person twice.",
        email_owner(owner),
    )


class PersonScopeAdminMixin:
    """Persons outside the user's scope (``persons_visible_to``) cannot be picked in any Person field of
    this admin's forms, and its forms know who is acting (``form.actor``), so that an email check can
    answer as the services do."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.related_model is Person:
            formfield.queryset = persons_visible_to(request.user, formfield.queryset)
        return formfield


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")


class PersonForm(forms.ModelForm):
    """Normalises before the model's own checks run, so "(801) 555-0123" is stored as +18015550123 and
    "Ann@X.org " is compared with the stored emails as ann@x.org."""

    actor = None  # the acting user, set by ``PersonScopeAdminMixin.get_form``

    class Meta:
        model = Person
        fields = ("first_name", "last_name", "email", "phone", "date_of_birth", "user")

    def clean_email(self):
        try:
            email = clean_email(self.cleaned_data.get("email"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        # Checked here (the service checks again under a lock) so the message can link to the owner.
        error = duplicate_email_error(
            email, actor=self.actor, exclude=None if self.instance._state.adding else self.instance
        )
        if error:
            raise ValidationError(error)
        return email

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data.get("phone"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_date_of_birth(self):
        errors = FieldErrors()
        value = services.clean_date_of_birth(self.cleaned_data.get("date_of_birth"), errors=errors)
        if errors:
            raise ValidationError(errors.errors["date_of_birth"])
        return value


class RolePeriodInline(admin.TabularInline):
    """A person's role periods. New periods and closing an open one go through the services (periods
    never overlap and are closed, not rewritten); a closed period is read-only."""

    model = PersonContactType
    fields = ("contact_type", "valid_from", "valid_to")
    autocomplete_fields = ("contact_type",)
    extra = 0
    can_delete = False
    verbose_name = "role period"
    verbose_name_plural = "roles"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact_type")


@admin.register(Person)
class PersonAdmin(PersonScopeAdminMixin, ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    form = PersonForm
    list_display = ("name", "contact", "date_of_birth", "current_roles")
    list_filter = (SoftDeletedFilter, RoleFilter)
    search_fields = ("last_name", "first_name", "email", "phone")
    # The key last, ascending, as the API's cursor orders: page 1 reads person_name_order_idx.
    ordering = ("last_name", "first_name", "pk")
    autocomplete_fields = ("user",)
    list_select_related = ("user",)
    readonly_fields = ("records", "created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    inlines = (RolePeriodInline,)
    soft_delete_service = services.person_soft_delete
    restore_service = services.person_restore
    service_kwarg = "person"

    def get_queryset(self, request):
        # The user's scope decides every page built on this queryset: the list and its search, the change
        # and history pages (outside it: "does not exist"), and the autocomplete of every Person field
        # in the admin (Django's autocomplete view asks this admin).
        # One query for the page's role periods with their contact types joined; a nested
        # "role_periods__contact_type" prefetch would add a query only when the page has a role.
        periods = PersonContactType.objects.select_related("contact_type")
        people = persons_visible_to(request.user, super().get_queryset(request))
        return people.prefetch_related(Prefetch("role_periods", queryset=periods))

    def get_fieldsets(self, request, obj=None):
        fields = ("first_name", "last_name", "email", "phone", "date_of_birth")
        if request.user.is_superuser:
            fields = (*fields, "user")
        elif obj is not None and obj.user_id:
            fields = (*fields, "login")  # others cannot set it; they see it when there is one
        details = (None, {"fields": fields})
        if obj is None:
            return (details,)
        return (
            details,
            ("In the CRM", {"fields": ("records",)}),
            (
                "Record",
                {
                    "classes": ("collapse",),
                    "fields": ("created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason"),
                },
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        # Linking a staff login to a person is account administration: superusers only (nobody else
        # may even list the logins).
        return self.readonly_fields if request.user.is_superuser else (*self.readonly_fields, "user", "login")

    @admin.display(description="staff login")
    def login(self, obj: Person) -> str:
        return obj.user.get_username() if obj.user_id else "-"

    @admin.display(description="records")
    def records(self, obj: Person) -> str:
        links = []
        if (patient := getattr(obj, "patient", None)) is not None:
            links.append(admin_link(patient, "Patient record"))
        if (physician := getattr(obj, "physician", None)) is not None:
            links.append(admin_link(physician, "Physician record"))
        links.extend(admin_link(lead, f"Lead ({lead.get_status_display()})") for lead in obj.leads.all())
        navigated = obj.navigated_patients.count()
        if navigated:
            url = reverse("admin:patients_patient_changelist")
            links.append(
                format_html('<a href="{}?navigator={}">Navigator of {} patient(s)</a>', url, obj.pk, navigated)
            )
        if not links:
            return "No patient, lead or physician record."
        return format_html_join(" · ", "{}", ((link,) for link in links))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "duplicates_panel": None, "cross_program": None}
        person = self.get_object(request, object_id) if may_review_person_duplicates(request.user) else None
        if person is not None:
            found = person_duplicate_candidates(person, user=request.user, limit=PANEL_SIZE)
            extra_context["duplicates_panel"] = duplicates_panel(person, found, queue_model=PersonDuplicatePair)
        # Both programs side by side: superusers only, the one role that may see both (a GET: a POST that
        # fails validation re-renders the form, and its page is not a view of the record).
        if request.user.is_superuser and request.method == "GET":
            person = person or self.get_object(request, object_id)
            if person is not None:
                extra_context["cross_program"] = cross_program_view(person)
                request._cross_program_shown = True
        return super().change_view(request, object_id, form_url, extra_context)

    def _log_phi_access(self, request, response, scope: str) -> None:
        # One entry per page, which says that the page showed both programs when it did.
        if getattr(request, "_cross_program_shown", False):
            scope = f"{scope}+{CROSS_PROGRAM_SCOPE}"
        super()._log_phi_access(request, response, scope)

    def get_urls(self):
        merge = path("merge/", self.admin_site.admin_view(self.merge_view), name="people_person_merge")
        return [merge, *super().get_urls()]

    def merge_view(self, request):
        """The compare-and-merge page: ``merge/?survivor=<id>&duplicate=<id>`` (CRM supervisors)."""
        from common.merge.admin import compare_and_merge_view

        return compare_and_merge_view(
            self,
            request,
            fields=services.PERSON_MERGE_FIELDS,
            service=services.person_merge,
            permission="people.merge_person",
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("field_name") == "navigator":
            # The autocomplete of a "navigator" field offers navigators only.
            queryset = queryset.filter(pk__in=navigators().values("pk"))
        return queryset, may_have_duplicates

    @admin.display(description="name", ordering="last_name")
    def name(self, obj: Person) -> str:
        return name_cell(f"{obj.last_name}, {obj.first_name}", deleted=not obj.is_active)

    @admin.display(description="email / phone", ordering="email")
    def contact(self, obj: Person) -> str:
        return contact_cell(obj)

    @admin.display(description="current roles")
    def current_roles(self, obj: Person) -> str:
        return ", ".join(sorted(p.contact_type.name for p in obj.role_periods.all() if p.is_current))

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data.get(name) for name in services.PERSON_EDITABLE_FIELDS}
        if change:
            changed = {name: values[name] for name in form.changed_data if name in values}
            services.person_update(person=obj, data=changed, actor=request.user)
        else:
            self.adopt(obj, services.person_create(**values, actor=request.user))

    def save_formset(self, request, form, formset, change):
        if formset.model is not PersonContactType:
            return super().save_formset(request, form, formset, change)
        person = form.instance
        for row in formset.forms:
            if not row.has_changed() or not row.cleaned_data:
                continue
            period = row.instance
            if period._state.adding:
                services.person_role_start(
                    person=person,
                    role=row.cleaned_data["contact_type"],
                    valid_from=row.cleaned_data["valid_from"],
                    valid_to=row.cleaned_data.get("valid_to"),
                    actor=request.user,
                )
            elif row.changed_data == ["valid_to"] and row.initial.get("valid_to") is None:
                services.person_role_end(
                    person=person,
                    role=period.contact_type,
                    valid_to=row.cleaned_data["valid_to"],
                    actor=request.user,
                )
            else:
                raise ValidationError({"valid_from": ["Role periods are history: close a period, do not rewrite it."]})
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


@admin.register(ContactType)
class ContactTypeAdmin(CrmModelAdmin):
    list_display = ("name", "code", "description")
    search_fields = ("name", "code")
    readonly_fields = ("created_at", "updated_at")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # role periods point at it, and the services find the shipped roles by code

    def get_readonly_fields(self, request, obj=None):
        # The services refer to the shipped roles by code: renaming is fine, recoding is not.
        return (*self.readonly_fields, "code") if obj else self.readonly_fields


@admin.register(PersonContactType)
class PersonContactTypeAdmin(PersonScopeAdminMixin, ServiceAdminMixin, CrmModelAdmin):
    list_display = ("person", "contact_type", "valid_from", "valid_to")
    list_filter = ("contact_type", "valid_from", ("valid_to", admin.EmptyFieldListFilter))
    # The role is the "contact type" filter; searching its name would return every period of that role.
    search_fields = ("person__last_name", "person__first_name", "person__email")
    autocomplete_fields = ("person", "contact_type")
    list_select_related = ("person", "contact_type")
    ordering = ("-valid_from", "-pk")  # newest first, on person_contact_type_list_idx (a name sort scans all)

    def get_queryset(self, request):
        periods = super().get_queryset(request)
        if request.user.is_superuser:
            return periods
        return periods.filter(person__in=persons_visible_to(request.user))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # periods are closed, never removed

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("created_at", "updated_at")
        # An open period may be closed; everything else about a recorded period is history.
        locked = ("person", "contact_type", "valid_from", "created_at", "updated_at")
        return locked if obj.valid_to is None else (*locked, "valid_to")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            if "valid_to" in form.changed_data and data.get("valid_to"):
                services.person_role_end(
                    person=obj.person, role=obj.contact_type, valid_to=data["valid_to"], actor=request.user
                )
            return
        created = services.person_role_start(
            person=data["person"],
            role=data["contact_type"],
            valid_from=data["valid_from"],
            valid_to=data.get("valid_to"),
            actor=request.user,
        )
        self.adopt(obj, created)


register_dashboard_link(
    title="Possible duplicate persons",
    url_name="admin:people_personduplicatepair_changelist",
    description="Persons that may be one human, best score first: compare and merge, or mark them as not the "
    "same person (never proposed again).",
    allowed=may_review_person_duplicates,
)


@admin.register(PersonDuplicatePair)
class PersonDuplicatePairAdmin(DuplicatePairAdmin):
    """The queue of possible duplicate Persons (within the user's Person scope)."""

    record_model = Person
    low, high = "person_low", "person_high"
    pairs_for = staticmethod(person_duplicate_pairs)
    search_fields = ("person_low__last_name", "person_low__first_name", "person_high__last_name")

    @staticmethod
    def mark_not_duplicate_service(one, other, actor):
        return services.person_mark_not_duplicate(person=one, other=other, actor=actor)


@admin.register(PersonMergeRequest)
class PersonMergeRequestAdmin(ServiceAdminMixin, CrmModelAdmin):
    """The queue of merge requests: navigators file them, CRM supervisors compare, then approve (merges) or
    reject. Filing goes through ``person_merge_request_file``; deciding through the approve/reject services."""

    list_display = ("created_at", "status", "duplicate", "survivor", "requested_by", "reason", "compare")
    list_filter = ("status",)
    list_select_related = ("survivor", "duplicate", "requested_by")
    search_fields = ("survivor__last_name", "duplicate__last_name", "reason")
    ordering = ("-created_at", "id")
    autocomplete_fields = ("survivor", "duplicate")
    fields = ("survivor", "duplicate", "reason")
    actions = ("approve_selected", "reject_selected")

    def get_queryset(self, request):
        requests = super().get_queryset(request)
        if not request.user.has_perm("people.merge_person"):
            requests = requests.filter(requested_by=request.user)
        return requests

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else ()

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("people.merge_person")

    @admin.display(description="compare")
    def compare(self, obj: PersonMergeRequest) -> str:
        url = reverse("admin:people_person_merge")
        return format_html(
            '<a href="{}?survivor={}&duplicate={}">Compare and merge</a>', url, obj.survivor_id, obj.duplicate_id
        )

    def save_model(self, request, obj, form, change):
        if not change:
            self.adopt(
                obj,
                services.person_merge_request_file(
                    survivor=form.cleaned_data["survivor"],
                    duplicate=form.cleaned_data["duplicate"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                ),
            )

    def _decide(self, request, queryset, decide, verb: str) -> None:
        done = 0
        for merge_request in queryset.filter(status=MergeRequestStatus.PENDING):
            try:
                decide(request=merge_request, actor=request.user)
                done += 1
            except (ValidationError, ConflictError) as exc:
                message = "; ".join(getattr(exc, "messages", None) or [str(getattr(exc, "message", exc))])
                self.message_user(request, f"{merge_request}: {message}", messages.ERROR)
        self.message_user(request, f"{verb} {done} merge request(s).", messages.SUCCESS if done else messages.INFO)

    @admin.action(description="Approve (merge) the selected requests", permissions=["decide"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, services.person_merge_request_approve, "Approved")

    @admin.action(description="Reject the selected requests", permissions=["decide"])
    def reject_selected(self, request, queryset):
        self._decide(request, queryset, services.person_merge_request_reject, "Rejected")
