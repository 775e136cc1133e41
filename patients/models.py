"""Patient navigation: medical conditions, hospitals and specializations (lookups), leads, patients,
physicians, who treats whom, and the call history.

Every role points at a ``people.Person``; none copies the Person's name, email or phone.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from common.db import name_key
from common.models import BaseModel, SoftDeleteModel
from people.models import DELETION_HAS_REASON, Person


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


# --- Lookups -------------------------------------------------------------------------------------------


@pghistory.track()
class MedicalCondition(SoftDeleteModel, BaseModel):
    """The single lookup of conditions (it replaces the old option set + lookup pair, which disagreed).

    Names are unique ignoring case so "glioblastoma" cannot sit next to "Glioblastoma". Retired
    conditions are soft-deleted: existing patients keep them, new records cannot pick them.
    """

    name = models.CharField(max_length=200)
    abbreviation = models.CharField(max_length=20, blank=True, default="")
    description = models.TextField(blank=True, default="")

    class Meta:
        db_table = "medical_condition"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="medical_condition_name_ci_uniq",
                violation_error_message="A medical condition with this name already exists.",
            ),
            models.UniqueConstraint(
                Lower("abbreviation"),
                condition=~Q(abbreviation=""),
                name="medical_condition_abbreviation_ci_uniq",
                violation_error_message="A medical condition with this abbreviation already exists.",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="medical_condition_name_not_blank"),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="medical_condition_deletion_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.abbreviation})" if self.abbreviation else self.name


@pghistory.track()
class Hospital(SoftDeleteModel, BaseModel):
    """Where a physician works. One row per hospital name within a city and country, ignoring case and
    surrounding spaces (the unique index holds it under concurrency, not only the service's check)."""

    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=100, blank=True, default="")
    address = models.TextField(blank=True, default="")

    class Meta:
        db_table = "hospital"
        ordering = ["name", "city"]
        constraints = [
            models.UniqueConstraint(
                name_key("name"),
                name_key("city"),
                name_key("country"),
                name="hospital_name_city_country_ci_uniq",
                violation_error_message="This hospital already exists in this city and country.",
            ),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="hospital_deletion_has_reason"),
        ]

    def __str__(self) -> str:
        return ", ".join(part for part in (self.name, self.city) if part)


@pghistory.track()
class Specialization(SoftDeleteModel, BaseModel):
    """A physician's medical specialty (neurology, pulmonology...). Names are unique ignoring case and
    surrounding spaces, so "Neurology" cannot sit next to "neurology "."""

    name = models.CharField(max_length=200)

    class Meta:
        db_table = "specialization"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                name_key("name"),
                name="specialization_name_ci_uniq",
                violation_error_message="A specialization with this name already exists.",
            ),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="specialization_deletion_has_reason"),
        ]

    def __str__(self) -> str:
        return self.name


# --- Leads and patients ---------------------------------------------------------------------------------


class LeadSource(models.TextChoices):
    LANDING_PAGE = "landing_page", "Landing page"
    CONTACT_FORM = "contact_form", "Contact form"
    PHYSICIAN_REFERRAL = "physician_referral", "Physician referral"
    PHONE = "phone", "Phone call"
    EMAIL = "email", "Email"
    PATIENT_ORGANISATION = "patient_organisation", "Patient organisation"
    EVENT = "event", "Event"
    OTHER = "other", "Other"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    LOST = "lost", "Lost"


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)


@pghistory.track()
class PatientLead(BaseModel):
    """Someone who showed interest (a landing page, a form, a referral) and is not a patient yet.

    A converted lead always names the patient it became and when: the funnel report depends on it.
    A person has at most one open lead at a time, so a second form submission does not create a
    parallel pipeline entry.
    """

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="leads")
    medical_condition = models.ForeignKey(
        MedicalCondition, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    source = models.CharField(max_length=30, choices=LeadSource.choices, default=LeadSource.OTHER)
    landing_page_url = models.URLField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    converted_patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="converted_leads"
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")

    class Meta:
        db_table = "patient_lead"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=_in("status", LeadStatus), name="patient_lead_status_valid"),
            models.CheckConstraint(condition=_in("source", LeadSource), name="patient_lead_source_valid"),
            models.CheckConstraint(
                condition=(
                    Q(status=LeadStatus.CONVERTED, converted_patient__isnull=False, converted_at__isnull=False)
                    | (~Q(status=LeadStatus.CONVERTED) & Q(converted_patient__isnull=True, converted_at__isnull=True))
                ),
                name="patient_lead_converted_names_patient",
                violation_error_message="A converted lead names its patient and conversion time (and only then).",
            ),
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(status__in=OPEN_LEAD_STATUSES),
                name="patient_lead_one_open_per_person",
                violation_error_message="This person already has an open lead.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="patient_lead_status_idx"),
            models.Index(fields=["-created_at", "id"], name="patient_lead_order_idx"),  # the leads list's order
            # The navigation report's leads cohort of a period, read from the index alone.
            models.Index(
                fields=["created_at"], include=["status", "converted_patient"], name="patient_lead_report_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Lead: {self.person} ({self.get_status_display()})"


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    CLOSED = "closed", "Closed"
    DECEASED = "deceased", "Deceased"


# The follow-up columns are derived from the calls (whose own history records every change): they are
# left out of the patient's history, so logging a call does not add a patient event.
_ACTIVE_PATIENT = Q(status=PatientStatus.ACTIVE, is_active=True)


@pghistory.track(exclude=["follow_up_date", "last_call_at", "open_journeys"])
class Patient(SoftDeleteModel, BaseModel):
    """A person the navigators work with. One patient per person (``person`` is one-to-one), which is
    what makes a returning patient land on their existing record instead of a duplicate."""

    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="patient")
    medical_condition = models.ForeignKey(
        MedicalCondition, null=True, blank=True, on_delete=models.PROTECT, related_name="patients"
    )
    navigator = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="navigated_patients",
        help_text="The patient navigator (a Person with the navigator role) in charge of this patient.",
    )
    first_contact_date = models.DateField(null=True, blank=True)
    initial_consult_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=PatientStatus.choices, default=PatientStatus.ACTIVE)
    # Maintained by patients.follow_up.refresh_follow_up in the transaction of every call write.
    follow_up_date = models.DateField(
        null=True, blank=True, editable=False, help_text="The reminder of the latest non-void call (the follow-up)."
    )
    last_call_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the latest non-void call took place."
    )
    # Maintained by PostgreSQL: statement-level triggers on clinical_trial_journey and eap_journey (migration
    # journeys.0008) add and subtract in the transaction of every journey write, whatever wrote it;
    # ``check_open_journeys`` compares it with a count from scratch and repairs it.
    open_journeys = models.PositiveIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Journeys (clinical trial and EAP) of this patient that are not deleted and not in a final status.",
    )

    class Meta:
        db_table = "patient"
        ordering = ["person__last_name", "person__first_name"]
        constraints = [
            models.CheckConstraint(condition=_in("status", PatientStatus), name="patient_status_valid"),
            models.CheckConstraint(
                condition=Q(initial_consult_date__isnull=True)
                | Q(first_contact_date__isnull=True)
                | Q(initial_consult_date__gte=F("first_contact_date")),
                name="patient_consult_after_first_contact",
                violation_error_message="The initial consult cannot be before the first contact.",
            ),
            models.CheckConstraint(
                condition=Q(navigator__isnull=True) | ~Q(navigator=F("person")),
                name="patient_not_own_navigator",
                violation_error_message="A patient cannot be their own navigator.",
            ),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="patient_deletion_has_reason"),
        ]
        indexes = [
            models.Index(fields=["navigator", "status"], name="patient_navigator_status_idx"),
            # The follow-up filters, worklist and per-navigator overdue counts look at active patients only.
            models.Index(fields=["follow_up_date"], name="patient_follow_up_idx", condition=_ACTIVE_PATIENT),
            models.Index(
                fields=["navigator", "follow_up_date"], name="patient_nav_follow_up_idx", condition=_ACTIVE_PATIENT
            ),
            models.Index(fields=["-created_at", "id"], name="patient_created_order_idx"),  # ?ordering=-created_at
            # The patients list's "any open journey" filter (and its capped count): the few patients with one.
            models.Index(fields=["navigator"], name="patient_open_journey_idx", condition=Q(open_journeys__gt=0)),
            # The navigation report's new patients and consults of a period, read from the index alone.
            models.Index(
                fields=["created_at"],
                include=["navigator"],
                name="patient_report_created_idx",
                condition=Q(is_active=True),
            ),
            models.Index(
                fields=["initial_consult_date"],
                include=["navigator", "first_contact_date"],
                name="patient_report_consult_idx",
                condition=Q(is_active=True, first_contact_date__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return str(self.person)


# --- Physicians -----------------------------------------------------------------------------------------


@pghistory.track()
class Physician(SoftDeleteModel, BaseModel):
    """A treating or referring doctor. One physician record per person."""

    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="physician")
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="physicians")
    specialization = models.ForeignKey(
        Specialization, null=True, blank=True, on_delete=models.PROTECT, related_name="physicians"
    )
    job_title = models.CharField(max_length=150, blank=True, default="")
    medical_license_number = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        db_table = "physician"
        ordering = ["person__last_name", "person__first_name"]
        constraints = [
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="physician_deletion_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Dr. {self.person}"


class RelationshipType(models.TextChoices):
    TREATING = "treating", "Treating"
    REFERRING = "referring", "Referring"
    PRIMARY_CARE = "primary_care", "Primary care"


@pghistory.track()
class PatientPhysicianRelationship(BaseModel):
    """Which physician treats, referred or provides primary care for which patient, and since when.

    At most one relationship per patient is flagged primary: it is the physician the navigators
    contact first, so two "primary" physicians would leave them guessing.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="physician_relationships")
    physician = models.ForeignKey(Physician, on_delete=models.PROTECT, related_name="patient_relationships")
    relationship_type = models.CharField(max_length=20, choices=RelationshipType.choices)
    is_primary = models.BooleanField(default=False)
    start_date = models.DateField(default=timezone.localdate)
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        db_table = "patient_physician_relationship"
        ordering = ["-is_primary", "-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=_in("relationship_type", RelationshipType),
                name="patient_physician_relationship_type_valid",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(is_primary=True),
                name="patient_physician_one_primary",
                violation_error_message="This patient already has a primary physician.",
            ),
            models.UniqueConstraint(
                fields=["patient", "physician", "relationship_type"],
                condition=Q(end_date__isnull=True),
                name="patient_physician_one_open_per_type",
                violation_error_message="This physician already has this open relationship with the patient.",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="patient_physician_dates_in_order",
                violation_error_message="A relationship cannot end before it starts.",
            ),
        ]
        indexes = [
            # The admin changelist's default order (primary first, newest first, the key last).
            models.Index(fields=["is_primary", "start_date", "id"], name="patient_physician_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.physician} — {self.get_relationship_type_display()} of {self.patient}"


# --- Calls ----------------------------------------------------------------------------------------------


class CallDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class CallOutcome(models.TextChoices):
    REACHED = "reached", "Reached"
    VOICEMAIL = "voicemail", "Voicemail"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    CALLBACK_REQUESTED = "callback_requested", "Callback requested"
    # The legacy CRM kept a booking per contact, not the call's outcome (import_legacy_crm).
    NOT_RECORDED = "not_recorded", "Not recorded (imported)"


@pghistory.track()
class CallHistory(SoftDeleteModel, BaseModel):
    """One call between a navigator and a patient. Each call is its own row, never overwritten.

    A call logged by mistake is *voided*, not deleted: the soft-delete fields are its void marker
    (``is_active`` False, ``deleted_at`` / ``deleted_by`` / ``deletion_reason`` = when, who, why; see
    ``is_void`` and friends). Edits are kept by the audit trail.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="calls")
    navigator = models.ForeignKey(
        Person,
        db_column="pn_id",
        on_delete=models.PROTECT,
        related_name="calls_made",
        help_text="The patient navigator who made or took the call.",
    )
    direction = models.CharField(max_length=10, choices=CallDirection.choices)
    call_date = models.DateTimeField(default=timezone.now)
    booking_date = models.DateTimeField(null=True, blank=True, help_text="An appointment booked during the call.")
    reminder_date = models.DateField(null=True, blank=True, help_text="When to follow up with the patient.")
    no_show = models.BooleanField(default=False)
    call_duration_minutes = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=30, choices=CallOutcome.choices)
    notes = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        db_table = "call_history"
        ordering = ["-call_date", "-created_at"]
        verbose_name = "call"
        verbose_name_plural = "call history"
        constraints = [
            models.CheckConstraint(condition=_in("direction", CallDirection), name="call_history_direction_valid"),
            models.CheckConstraint(condition=_in("outcome", CallOutcome), name="call_history_outcome_valid"),
            models.CheckConstraint(
                condition=Q(call_duration_minutes__isnull=True) | Q(call_duration_minutes__gte=0),
                name="call_history_duration_non_negative",
                violation_error_message="A call cannot last a negative number of minutes.",
            ),
            models.CheckConstraint(
                condition=DELETION_HAS_REASON,
                name="call_history_void_has_reason",
                violation_error_message="A voided call needs a reason.",
            ),
        ]
        indexes = [
            # A patient's calls, newest first, in the API's exact order (the id breaks ties).
            models.Index(fields=["patient", "-call_date", "-created_at", "id"], name="call_history_patient_order_idx"),
            models.Index(fields=["navigator", "call_date"], name="call_history_pn_date_idx"),
            # The navigator caseload's calls in the last 7 / 30 days: counted from the index alone.
            models.Index(
                fields=["navigator", "call_date"], name="call_history_pn_active_idx", condition=Q(is_active=True)
            ),
            # The call-history list's order.
            models.Index(fields=["-call_date", "-created_at", "id"], name="call_history_order_idx"),
            # The list filtered on no-shows (1% of calls, none among the newest): its page and capped count.
            models.Index(
                fields=["-call_date", "-created_at", "id"], name="call_history_no_show_idx", condition=Q(no_show=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} call with {self.patient} on {self.call_date:%Y-%m-%d}"

    # The void vocabulary over the shared soft-delete fields.
    @property
    def is_void(self) -> bool:
        return not self.is_active

    @property
    def void_reason(self) -> str:
        return self.deletion_reason

    @property
    def voided_at(self):
        return self.deleted_at

    @property
    def voided_by(self):
        return self.deleted_by
