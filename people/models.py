"""People: the staff login (custom user model) and Person, the single source of truth for identity."""

from __future__ import annotations

import uuid

import pghistory
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Lower, Now, Trim
from django.utils import timezone

from common.db import TsTzRange
from common.models import BaseModel, SoftDeleteModel
from common.search import search_key_field, stored_search_indexes
from people.normalize import normalize_email

# A soft-deleted row must say why it was deleted (shared by the soft-deletable tables of this project).
DELETION_HAS_REASON = Q(is_active=True) | ~Q(deletion_reason="")


class User(AbstractUser):
    """A staff login. Custom from day one so that fields can be added later without a painful swap.

    Staff who are also Persons in the CRM (navigators, CPSS staff) link to it through ``Person.user``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "crm_user"
        verbose_name = "user"
        verbose_name_plural = "users"


# The search keys are derived from the names and email (kept by PostgreSQL): their history is the names' history.
@pghistory.track(exclude=["first_name_key", "last_name_key", "email_key"])
class Person(SoftDeleteModel, BaseModel):
    """One row per human: name, email, phone and date of birth live here and nowhere else.

    Roles (lead, patient, physician, navigator, CM patient, CPSS) point at a Person and never copy its
    fields, so a correction made once shows everywhere. Email is stored normalised (trimmed, lower
    case) and is unique on that normalised value: it is how returning patients are recognised.
    """

    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    email = models.EmailField(max_length=254, null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True, default="", help_text="E.164, e.g. +18015550123")
    date_of_birth = models.DateField(null=True, blank=True)
    user = models.OneToOneField(
        "people.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        help_text="The staff login of a navigator or CPSS who is also a Person in the CRM.",
    )
    # Set by ``person_merge`` on the duplicate (which is also soft-deleted): links, redirects and the
    # points history follow it to the survivor. Only ``person_unmerge`` clears it.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
        help_text="The Person this duplicate was merged into.",
    )
    # What the search box compares (``lower(crm_unaccent(x))``), stored so that a search reads it instead of
    # computing it for every candidate row (common.search.search_key_field).
    first_name_key = search_key_field("first_name")
    last_name_key = search_key_field("last_name")
    email_key = search_key_field("email")

    class Meta:
        db_table = "person"
        ordering = ["last_name", "first_name"]
        # Merging two Persons re-points every record of one at the other: a supervisor's decision.
        permissions = [("merge_person", "Can merge duplicate persons and undo merges")]
        constraints = [
            # The index is on the normalised expression, so even a row written around the services
            # (raw SQL, a bulk import) cannot create a second Person for "Ann@X.org " vs "ann@x.org".
            models.UniqueConstraint(
                Lower(Trim("email")),
                name="person_email_normalised_uniq",
                violation_error_message="A person with this email already exists.",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | ~Q(email=""),
                name="person_email_null_not_blank",
                violation_error_message="Store a missing email as NULL, not as an empty string.",
            ),
            # Phones are compared and dialled in E.164; anything else slipped past the normaliser.
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="person_phone_e164",
                violation_error_message="Phone numbers are stored in E.164 form, e.g. +18015550123.",
            ),
            models.CheckConstraint(
                condition=DELETION_HAS_REASON,
                name="person_deletion_has_reason",
                violation_error_message="A deleted person needs a deletion reason.",
            ),
            # A merged duplicate is never an active record (restoring it is refused: undo the merge).
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(is_active=False),
                name="person_merged_is_inactive",
                violation_error_message="A merged person stays deleted; undo the merge instead.",
            ),
        ]
        indexes = [
            models.Index(Lower("last_name"), Lower("first_name"), name="person_name_lower_idx"),
            # The search box (common.search): names and email anywhere (trigram) or from the start (btree,
            # words under 3 characters), ignoring case and accents (on their stored keys); the phone on its
            # digits (stored E.164).
            *stored_search_indexes("person", "first_name", "last_name", "email"),
            GinIndex(OpClass("phone", name="gin_trgm_ops"), name="person_phone_trgm"),
            # The order of every list of people, patients and physicians (by the Person's name, the id
            # breaking ties): PostgreSQL reads a page off this index instead of sorting the whole table.
            models.Index(fields=["last_name", "first_name", "id"], name="person_name_order_idx"),
            # ?email= compares the stored (already normalised) value; the unique index is on lower(trim()).
            models.Index(fields=["email"], name="person_email_idx"),
            # The duplicate finder's blocking keys (people.duplicates): date of birth, phone, email local part.
            models.Index(fields=["date_of_birth"], name="person_dob_idx"),
            models.Index(fields=["phone"], name="person_phone_idx", condition=~Q(phone="")),
            models.Index(
                Func(F("email"), Value("@"), Value(1), function="split_part", output_field=models.TextField()),
                name="person_email_local_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def save(self, *args, **kwargs):
        # Keeping the stored value normalised is data hygiene of this one row, not a business rule.
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class PersonSearch(models.Model):
    """person_search: one narrow row per Person, its name (the lists' order) and search keys, filled in name
    order and kept by statement-level triggers on person (people/migrations/0020_person_search_table.py). The
    searched name-ordered lists take their candidates from it (people.search_table); never written here."""

    person_id = models.UUIDField(primary_key=True)
    last_name = models.CharField(max_length=150)
    first_name = models.CharField(max_length=150)
    first_name_key = models.TextField(null=True)
    last_name_key = models.TextField(null=True)
    email_key = models.TextField(null=True)

    class Meta:
        managed = False
        db_table = "person_search"

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class PersonRoleQuerySet(models.QuerySet):
    def current(self, at=None) -> PersonRoleQuerySet:
        """Periods in force at ``at`` (now by default): started, and not yet ended."""
        at = at or timezone.now()
        return self.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at), valid_from__lte=at)

    def of_role(self, code: str) -> PersonRoleQuerySet:
        return self.filter(contact_type__code=code)


@pghistory.track()
class ContactType(BaseModel):
    """The roles a Person can hold (lead, patient, physician, navigator...). A lookup, so new roles are
    rows, not code changes; the services refer to the shipped ones by their stable ``code``."""

    PATIENT_LEAD = "patient_lead"
    PATIENT = "patient"
    PHYSICIAN = "physician"
    PHARMACIST = "pharmacist"
    PATIENT_NAVIGATOR = "patient_navigator"
    CAREGIVER = "caregiver"

    code = models.SlugField(max_length=50, unique=True, help_text="Stable identifier used by the code.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")

    class Meta:
        db_table = "contact_type"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="contact_type_name_ci_uniq", violation_error_message="This role already exists."
            ),
        ]

    def __str__(self) -> str:
        return self.name


@pghistory.track()
class PersonContactType(BaseModel):
    """One period during which a Person held a role. Periods are closed, never rewritten: a role change
    ends one period and starts the next at the same instant, so "who was a lead when" stays answerable.

    ``valid_to`` NULL means the role is current. The periods of one role for one person never overlap
    (half-open ranges, so a period may start exactly when the previous one ended).
    """

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="role_periods")
    contact_type = models.ForeignKey(ContactType, on_delete=models.PROTECT, related_name="person_periods")
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty while the role is current.")

    objects = PersonRoleQuerySet.as_manager()

    class Meta:
        db_table = "person_contact_type"
        ordering = ["person", "contact_type", "valid_from"]
        verbose_name = "person role period"
        verbose_name_plural = "person role periods"
        constraints = [
            # Person and role first: the GiST index then narrows each check to that person's periods.
            # With the range first, every open period ([from, infinity)) overlaps a new one and each
            # insert scanned them all: 50,000 role periods took 15 s at 0 rows, 42 s at 250,000 rows,
            # against 3-4 s throughout in this order (bench.generate loads 770,000).
            ExclusionConstraint(
                name="person_contact_type_no_overlap",
                expressions=[
                    ("person", RangeOperators.EQUAL),
                    ("contact_type", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                violation_error_message="This person already holds this role during part of that period.",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="person_contact_type_valid_to_after_from",
                violation_error_message="A role period must end after it starts.",
            ),
        ]
        indexes = [
            # The admin changelist's order (newest periods first, the key last).
            models.Index(fields=["valid_from", "id"], name="person_contact_type_list_idx"),
            # The holders of a role: the persons list's "contact type" filter reads them index-only.
            models.Index(fields=["contact_type", "person"], name="person_role_holders_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person} as {self.contact_type}"

    @property
    def is_current(self) -> bool:
        now = timezone.now()
        return self.valid_from <= now and (self.valid_to is None or self.valid_to > now)


# ---------------------------------------------------------------------------------------------------
# Possible duplicates (people.duplicates finds them; docs/DUPLICATES.md)


class DuplicateStatus(models.TextChoices):
    OPEN = "open", "Open"
    NOT_DUPLICATE = "not_duplicate", "Not the same person"
    MERGED = "merged", "Merged"
    # Set by the finder (never by a person): a record was deleted, or an edit made the two unalike. A closed
    # pair that matches again is reopened; a "not the same person" pair never is.
    CLOSED = "closed", "Closed (no longer alike)"


def duplicate_pair_constraints(table: str, low: str, high: str) -> list:
    """The rules of a candidate pair table: each pair once, in one order (the lower id first), a score
    within 0-1, a known status. Shared by ``PersonDuplicatePair`` and the CM ``CanonicalPatientDuplicatePair``."""
    return [
        models.UniqueConstraint(
            fields=[low, high], name=f"{table}_uniq", violation_error_message="This pair is already recorded."
        ),
        models.CheckConstraint(
            condition=Q(**{f"{low}__lt": models.F(high)}),
            name=f"{table}_low_first",
            violation_error_message="A pair names the record with the lower id first (and never one record twice).",
        ),
        models.CheckConstraint(
            condition=Q(score__gte=0, score__lte=1),
            name=f"{table}_score_range",
            violation_error_message="The score is between 0.00 and 1.00.",
        ),
        models.CheckConstraint(
            condition=Q(status__in=DuplicateStatus.values),
            name=f"{table}_status_check",
            violation_error_message="Status is open, not_duplicate, merged or closed.",
        ),
    ]


class DuplicatePairBase(models.Model):
    """What both candidate tables hold besides the two records: the score and its reasons, and the decision.

    A pair decided "not the same person" keeps its row for good: the finder skips it whatever later edits
    do (the customers' most common complaint about duplicate queues is rejected pairs coming back)."""

    id = models.BigAutoField(primary_key=True)
    score = models.DecimalField(max_digits=3, decimal_places=2)
    reasons = models.JSONField(default=list, blank=True, help_text='Why the pair was proposed: ["same DOB", ...].')
    status = models.TextField(
        choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN, db_default=DuplicateStatus.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    found_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        abstract = True


# ``updated_at`` left out of the trail: the finder rewrites score and reasons only when they change.
@pghistory.track(exclude=["updated_at"])
class PersonDuplicatePair(DuplicatePairBase):
    """Two Persons that may be one human, as ``find_duplicates`` or a screen found them."""

    person_low = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    person_high = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "person_duplicate_pair"
        ordering = ["-score", "id"]
        verbose_name = "possible duplicate (persons)"
        verbose_name_plural = "possible duplicates (persons)"
        constraints = duplicate_pair_constraints("person_duplicate_pair", "person_low", "person_high")
        indexes = [
            # The queue: open pairs, best first, the key last.
            models.Index(fields=["status", "-score", "id"], name="person_dup_pair_queue_idx"),
            models.Index(fields=["person_high"], name="person_dup_pair_high_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_low_id} ~ {self.person_high_id} ({self.score})"


class DuplicateScan(models.Model):
    """The watermark of ``find_duplicates``, one row per program ("crm", "cm"): a run grades the records
    changed since ``scanned_up_to`` (the start of the previous run), so a nightly run reads a few rows."""

    program = models.TextField(primary_key=True)
    scanned_up_to = models.DateTimeField()
    finished_at = models.DateTimeField()
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "duplicate_scan"

    def __str__(self) -> str:
        return f"{self.program} up to {self.scanned_up_to:%Y-%m-%d %H:%M}"


class MergeRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved (merged)"
    REJECTED = "rejected", "Rejected"


@pghistory.track()
class PersonMergeRequest(BaseModel):
    """A navigator's request that two Persons be merged, for a CRM supervisor to approve (which merges them,
    ``people.merge.person_merge_request_approve``) or reject. Navigators may not merge themselves: a merge
    re-points every record of a human, a supervisor's decision."""

    survivor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    duplicate = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    field_choices = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey("people.User", null=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=MergeRequestStatus.choices, default=MergeRequestStatus.PENDING)
    decided_by = models.ForeignKey("people.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    merge = models.ForeignKey("common.MergeLog", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "person_merge_request"
        ordering = ["-created_at"]
        verbose_name = "merge request"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=MergeRequestStatus.values), name="person_merge_request_status_valid"
            ),
            models.CheckConstraint(condition=~Q(survivor=models.F("duplicate")), name="person_merge_request_two"),
            # One pending request per pair and direction: filing it twice is one request.
            models.UniqueConstraint(
                fields=["survivor", "duplicate"],
                condition=Q(status=MergeRequestStatus.PENDING),
                name="person_merge_request_one_pending",
                violation_error_message="This merge has already been requested.",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at", "id"], name="person_merge_request_queue_idx")]

    def __str__(self) -> str:
        return f"Merge request: {self.duplicate_id} into {self.survivor_id} ({self.status})"
