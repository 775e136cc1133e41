"""Contingency management (CM): the customer's clean-separation schema, table for table.

Table and column names, defaults, CHECK lists and UNIQUE rules are the CM document's
(``../shared/seeds/002_74083e6972e7e99a.txt``) so that its SQL runs unchanged against this schema.
Every default exists twice: as a Python ``default`` (what the ORM writes) and as a ``db_default``
(what PostgreSQL fills in for a raw ``INSERT`` that omits the column, as the document's SQL does).

Additions, each for a reason given where it is declared: the IntakeQ mirror ``patients``, the program
``contingency_management`` with its reinforcement schedule, the points ledger ``cm_points_transactions``,
a link from the canonical identity to ``people.Person`` and from a CPSS to their staff login, and
NOT NULL / range checks where a NULL or negative value would be meaningless.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pghistory
from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Length, Lower, Now, Trim
from django.utils import timezone

from common.db import append_only_triggers, name_key
from common.models import SoftDeleteModel
from common.search import search_indexes
from people.models import DuplicatePairBase, duplicate_pair_constraints
from people.normalize import normalize_email


def normalised_name(expression) -> Func:
    """The comparison key of a name: trimmed, accents removed, lower case.

    ``crm_unaccent`` is the IMMUTABLE wrapper of ``unaccent`` created by ``common.0001_extensions``;
    the same expression is used by the unique index and by look-ups, so they always agree.
    """
    return Lower(Func(Trim(expression), function="crm_unaccent", output_field=models.TextField()))


class CMModel(models.Model):
    """UUID key and timestamps with database defaults, as every table of the CM document has them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        abstract = True


class CMStatus(models.TextChoices):
    """The document's status list, shared by ``patients_cm`` and ``cm_enrollments``."""

    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    GRADUATED = "graduated", "Graduated"
    WITHDRAWN = "withdrawn", "Withdrawn"


def _in_list(field: str, choices: type[models.TextChoices], *, nullable: bool = False) -> Q:
    condition = Q(**{f"{field}__in": choices.values})
    return Q(**{f"{field}__isnull": True}) | condition if nullable else condition


def _not_blank(field: str) -> Q:
    return Q(models.lookups.GreaterThan(Length(Trim(field)), 0))


# ---------------------------------------------------------------------------------------------------
# Identity


@pghistory.track()
class CanonicalPatient(SoftDeleteModel, CMModel):
    """One row per human across psychiatry (IntakeQ) and CM: identity only.

    The document's ``UNIQUE(first_name, last_name, date_of_birth)`` is kept in a stricter form: the
    unique index compares names trimmed, without accents and in lower case, so "José " and "jose"
    born the same day are one patient even when a row is written around the services. The plain
    three-column rule is implied by it. ``person`` ties the identity to the CRM-wide ``Person``.
    """

    first_name = models.TextField()
    last_name = models.TextField()
    date_of_birth = models.DateField()
    person = models.OneToOneField(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="canonical_patient",
        help_text="The CRM-wide identity of this human (name, email, phone live there).",
    )
    # The document's SQL inserts rows without the soft-delete columns: PostgreSQL fills them in.
    deletion_reason = models.TextField(blank=True, default="", db_default="", editable=False)
    # Set by ``canonical_patient_merge`` on the duplicate (also soft-deleted, its identity released from
    # the unique rule): the points history and redirects follow it. Only the unmerge clears it.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
        help_text="The canonical patient this duplicate was merged into.",
    )

    class Meta:
        db_table = "patients_canonical"
        ordering = ["last_name", "first_name", "date_of_birth"]
        verbose_name = "canonical patient"
        permissions = [("merge_canonicalpatient", "Can merge duplicate canonical patients and undo merges")]
        constraints = [
            models.UniqueConstraint(
                normalised_name("first_name"),
                normalised_name("last_name"),
                F("date_of_birth"),
                # A merged duplicate releases its identity, so the survivor may take its spelling.
                condition=Q(merged_into__isnull=True),
                name="patients_canonical_identity_uniq",
                violation_error_message="A canonical patient with this name and date of birth already exists.",
            ),
            models.CheckConstraint(
                condition=_not_blank("first_name") & _not_blank("last_name"),
                name="patients_canonical_names_not_blank",
                violation_error_message="First and last name are required.",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True) | ~Q(deletion_reason=""),
                name="patients_canonical_deletion_has_reason",
                violation_error_message="A deleted canonical patient needs a deletion reason.",
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(is_active=False),
                name="patients_canonical_merged_is_inactive",
                violation_error_message="A merged canonical patient stays deleted; undo the merge instead.",
            ),
        ]
        indexes = [
            # The admin changelist's order (its admin puts the key last, ascending).
            models.Index(fields=["last_name", "first_name", "date_of_birth", "id"], name="patients_canonical_list_idx"),
            # The search box (common.search): names anywhere, ignoring case and accents.
            *search_indexes("canonical", "first_name", "last_name"),
            # The duplicate finder's blocking key (cm_program.duplicates).
            models.Index(fields=["date_of_birth"], name="canonical_dob_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.date_of_birth:%Y-%m-%d})"


# ``raw`` is left out of the audit trail: it repeats the tracked fields plus the EMR's own (insurance,
# address), and a copy of it in every event would double the table for nothing the trail needs.
@pghistory.track(exclude=["raw"])
class IntakeQPatient(CMModel):
    """Mirror of the IntakeQ EMR's clients (the document's existing ``patients`` table).

    Kept as the EMR exports it; CM never writes its own patients here (that was the problem the
    document solves). ``intakeq_client_id`` is the EMR's key; it is nullable only so that a row typed
    in before the next sync (or inserted by the document's SQL) is accepted.
    """

    intakeq_client_id = models.TextField(unique=True, null=True, blank=True, verbose_name="IntakeQ client id")
    first_name = models.TextField()
    last_name = models.TextField()
    date_of_birth = models.DateField(null=True, blank=True)
    email = models.TextField(null=True, blank=True)
    phone = models.TextField(null=True, blank=True)
    # Written by ``import_intakeq``: the client as the EMR's API last returned it (every field, not only
    # the mirrored ones: insurance, address, ...), and whether the EMR has archived it. Archived clients
    # stay: a link or an enrollment may point at them, and the EMR itself never deletes them.
    archived = models.BooleanField(default=False, db_default=False, help_text="Archived in IntakeQ.")
    raw = models.JSONField(
        null=True, blank=True, editable=False, help_text="The client object of IntakeQ's API, as last imported."
    )

    class Meta:
        db_table = "patients"
        ordering = ["last_name", "first_name"]
        verbose_name = "IntakeQ patient"
        indexes = [
            models.Index(normalised_name("last_name"), normalised_name("first_name"), name="patients_name_idx"),
            # The admin changelist's order (its admin puts the key last, ascending).
            models.Index(fields=["last_name", "first_name", "id"], name="patients_list_idx"),
            *search_indexes("intakeq", "first_name", "last_name"),  # the search box (common.search)
            # Email, phone and client id in the search box too (the mirror keeps the EMR's own formats, so the
            # phone is matched on what is typed, as text); the key's own unique index cannot serve a substring.
            *search_indexes("intakeq", "email", "phone"),
            *search_indexes("iq", "intakeq_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} (IntakeQ {self.intakeq_client_id or '-'})"


class EnrollmentSource(models.TextChoices):
    ACUTE_CARE = "acute_care", "Acute care"
    OUTPATIENT = "outpatient", "Outpatient"
    REFERRAL = "referral", "Referral"
    # Added by the document's own migration for scenario 2 (an IntakeQ patient joins CM).
    EXISTING_PATIENT = "existing_patient", "Existing patient"


class SmartphoneAccess(models.TextChoices):
    YES = "yes", "Yes"
    LIMITED = "limited", "Limited"
    NO = "no", "No"


@pghistory.track()
class CMPatient(CMModel):
    """CM-specific data of a canonical patient: one CM profile per human (``UNIQUE(canonical_patient_id)``).

    Phone and email are the document's: CM keeps the contact details the program uses, separately
    from the EMR. The canonical patient is required (a CM profile of nobody is meaningless).
    """

    canonical_patient = models.OneToOneField(
        CanonicalPatient, on_delete=models.PROTECT, related_name="cm_profile", db_column="canonical_patient_id"
    )
    phone = models.TextField(null=True, blank=True)
    email = models.TextField(null=True, blank=True)
    insurance_primary = models.TextField(null=True, blank=True)
    medicaid_id = models.TextField(null=True, blank=True)
    enrollment_source = models.TextField(null=True, blank=True, choices=EnrollmentSource.choices)
    consent_date = models.DateTimeField(null=True, blank=True)
    smartphone_access = models.TextField(null=True, blank=True, choices=SmartphoneAccess.choices)
    emergency_contact_name = models.TextField(null=True, blank=True)
    emergency_contact_phone = models.TextField(null=True, blank=True)
    address_street = models.TextField(null=True, blank=True)
    address_city = models.TextField(null=True, blank=True)
    address_state = models.TextField(null=True, blank=True, default="UT", db_default="UT")
    address_zip = models.TextField(null=True, blank=True)
    preferred_language = models.TextField(null=True, blank=True, default="English", db_default="English")
    status = models.TextField(choices=CMStatus.choices, default=CMStatus.ACTIVE, db_default=CMStatus.ACTIVE)

    class Meta:
        db_table = "patients_cm"
        ordering = ["canonical_patient__last_name", "canonical_patient__first_name"]
        verbose_name = "CM patient"
        constraints = [
            models.CheckConstraint(
                condition=_in_list("enrollment_source", EnrollmentSource, nullable=True),
                name="patients_cm_enrollment_source_check",
                violation_error_message="Unknown enrollment source.",
            ),
            models.CheckConstraint(
                condition=_in_list("smartphone_access", SmartphoneAccess, nullable=True),
                name="patients_cm_smartphone_access_check",
                violation_error_message="Smartphone access is yes, limited or no.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", CMStatus),
                name="patients_cm_status_check",
                violation_error_message="Unknown status.",
            ),
        ]

        indexes = [
            # The search box (common.search): email and Medicaid id anywhere or from the start; the phone on
            # its digits (the services store it in E.164), as Person.phone.
            *search_indexes("cm_patient", "email", "medicaid_id"),
            GinIndex(OpClass("phone", name="gin_trgm_ops"), name="cm_patient_phone_trgm"),
            # The duplicate finder's blocking keys (cm_program.duplicates): the phone, the email local part.
            models.Index(fields=["phone"], name="cm_patient_phone_idx"),
            models.Index(
                Func(F("email"), Value("@"), Value(1), function="split_part", output_field=models.TextField()),
                name="cm_patient_email_local_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"CM profile of {self.canonical_patient}"


@pghistory.track()
class IntakeQLink(CMModel):
    """The confirmed match between a canonical patient and an IntakeQ client: at most one each way.

    ``linked_by`` is the staff login (``people.User``) that confirmed the match, not a ``providers_cm``
    row: supervisors and administrators who confirm matches need not be CPSS staff, every actor of the
    CRM is a User (the audit trail names Users too), and the column stays a UUID as in the document.
    """

    canonical_patient = models.OneToOneField(
        CanonicalPatient, on_delete=models.PROTECT, related_name="intakeq_link", db_column="canonical_patient_id"
    )
    intakeq_patient = models.OneToOneField(
        IntakeQPatient,
        on_delete=models.PROTECT,
        related_name="canonical_link",
        db_column="intakeq_patient_id",
        verbose_name="IntakeQ patient",
    )
    linked_date = models.DateTimeField(default=timezone.now, db_default=Now())
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_column="linked_by",
        help_text="The staff member who confirmed the match.",
    )
    confidence_score = models.DecimalField(
        max_digits=3, decimal_places=2, default=Decimal("1.00"), db_default=Decimal("1.00")
    )
    notes = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "patients_intakeq_link"
        ordering = ["-linked_date"]
        verbose_name = "IntakeQ link"
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence_score__gte=Decimal("0.00"), confidence_score__lte=Decimal("1.00")),
                name="patients_intakeq_link_confidence_range",
                violation_error_message="The confidence score is between 0.00 and 1.00.",
            ),
        ]
        indexes = [models.Index(fields=["-linked_date", "id"], name="intakeq_link_order_idx")]  # list order

    def __str__(self) -> str:
        return f"{self.canonical_patient} = IntakeQ {self.intakeq_patient.intakeq_client_id or self.intakeq_patient_id}"


class MatchBand(models.TextChoices):
    """How sure the matching of IntakeQ clients to canonical patients is (docs/MIGRATION.md, section 3).

    Half-open bands of the score: certain >= 0.90, probable [0.65, 0.90), possible [0.40, 0.65)."""

    CERTAIN = "certain", "Certain"
    PROBABLE = "probable", "Probable"
    POSSIBLE = "possible", "Possible"


class MatchStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    LINKED = "linked", "Linked"
    REJECTED = "rejected", "Not the same person"


# ``updated_at`` left out: pghistory then compares the tracked columns one by one; its whole-row
# comparison (``old.* IS DISTINCT FROM new.*``) made the statement trigger of the automatic links take
# 20 s for 3,800 rows instead of ~0.1 s.
@pghistory.track(exclude=["updated_at"])
class IntakeQMatchCandidate(CMModel):
    """A canonical patient and an IntakeQ client that may be the same human, graded by the matching.

    One row per pair (unique), so that a decision is kept with the pair: a rejected pair ("not the same
    person") is never proposed again by a later import, and a linked one stays as the record of how the
    link was made. ``components`` holds the parts of the score (name similarities, date of birth,
    email, phone) so that the reviewer sees why a pair was proposed.
    """

    canonical_patient = models.ForeignKey(
        CanonicalPatient, on_delete=models.CASCADE, related_name="intakeq_candidates", db_column="canonical_patient_id"
    )
    intakeq_patient = models.ForeignKey(
        IntakeQPatient,
        on_delete=models.CASCADE,
        related_name="match_candidates",
        db_column="intakeq_patient_id",
        verbose_name="IntakeQ patient",
    )
    score = models.DecimalField(max_digits=3, decimal_places=2)
    band = models.TextField(choices=MatchBand.choices)
    components = models.JSONField(default=dict, blank=True)
    status = models.TextField(
        choices=MatchStatus.choices, default=MatchStatus.PROPOSED, db_default=MatchStatus.PROPOSED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who linked or rejected the pair (empty for an automatic link).",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "intakeq_match_candidate"
        ordering = ["-score", "id"]
        verbose_name = "IntakeQ match candidate"
        constraints = [
            models.UniqueConstraint(
                fields=["canonical_patient", "intakeq_patient"],
                name="intakeq_match_candidate_pair_uniq",
                violation_error_message="This pair is already a match candidate.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=Decimal("0.00"), score__lte=Decimal("1.00")),
                name="intakeq_match_candidate_score_range",
                violation_error_message="The score is between 0.00 and 1.00.",
            ),
            models.CheckConstraint(
                condition=_in_list("band", MatchBand),
                name="intakeq_match_candidate_band_check",
                violation_error_message="Band is certain, probable or possible.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", MatchStatus),
                name="intakeq_match_candidate_status_check",
                violation_error_message="Status is proposed, linked or rejected.",
            ),
        ]
        indexes = [
            # The queue: proposed pairs of a band, best first (the list's order, the key last).
            models.Index(fields=["status", "band", "-score", "id"], name="intakeq_candidate_queue_idx"),
            models.Index(fields=["-score", "id"], name="intakeq_candidate_order_idx"),
            models.Index(fields=["intakeq_patient"], name="intakeq_candidate_client_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_patient} ~ {self.intakeq_patient} ({self.score}, {self.band})"


class IntakeQMatchingWatermark(models.Model):
    """Up to when the matching of ``import_intakeq`` has graded (one row).

    A run grades only the IntakeQ clients and canonical patients changed since (``updated_at`` of the
    mirror row, the canonical patient, its Person or its CM profile), not every unlinked client again.
    The time is the start of the oldest transaction open when the grading ran, so that a change committed
    by a transaction that was still running then is graded by the next run.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    graded_until = models.DateTimeField()

    class Meta:
        db_table = "intakeq_matching_watermark"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="intakeq_matching_watermark_single_row")]

    def __str__(self) -> str:
        return f"matching graded until {self.graded_until:%Y-%m-%d %H:%M:%S}"


# ---------------------------------------------------------------------------------------------------
# Staff and program


class ProviderRole(models.TextChoices):
    CPSS = "cpss", "CPSS"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Admin"


class ProviderStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


@pghistory.track()
class CMProvider(CMModel):
    """CPSS peer-support staff, separate from psychiatry providers.

    ``canonical_provider_id`` is the document's reference to the same human's psychiatry-provider row,
    which lives outside this CRM, so it stays a plain UUID. ``user`` is the staff login: it is how a
    logged-in CPSS is scoped to their own caseload.
    """

    canonical_provider_id = models.UUIDField(null=True, blank=True)
    first_name = models.TextField()
    last_name = models.TextField()
    email = models.TextField(unique=True, null=True, blank=True)
    phone = models.TextField(null=True, blank=True)
    role = models.TextField(choices=ProviderRole.choices, default=ProviderRole.CPSS, db_default=ProviderRole.CPSS)
    credentials = models.TextField(null=True, blank=True, help_text="CPSS-I, CPSS-II, ...")
    hire_date = models.DateField(null=True, blank=True)
    status = models.TextField(
        choices=ProviderStatus.choices, default=ProviderStatus.ACTIVE, db_default=ProviderStatus.ACTIVE
    )
    max_caseload = models.IntegerField(default=30, db_default=30)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cm_provider",
        help_text="The staff login of this CPSS; it limits what they see to their own caseload.",
    )
    person = models.OneToOneField(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cm_provider",
        help_text="The same human as a Person of the CRM (CPSS staff are Persons too).",
    )

    class Meta:
        db_table = "providers_cm"
        ordering = ["last_name", "first_name"]
        verbose_name = "CM provider"
        constraints = [
            models.CheckConstraint(
                condition=_in_list("role", ProviderRole),
                name="providers_cm_role_check",
                violation_error_message="Role is cpss, supervisor or admin.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", ProviderStatus),
                name="providers_cm_status_check",
                violation_error_message="Status is active or inactive.",
            ),
            models.CheckConstraint(
                condition=Q(max_caseload__gte=0),
                name="providers_cm_max_caseload_not_negative",
                violation_error_message="The maximum caseload cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def save(self, *args, **kwargs):
        # Stored normalised so that the document's UNIQUE(email) also catches "Ann@X.org " vs "ann@x.org".
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


@pghistory.track()
class CMProgram(CMModel):
    """A CM program (the document's ``contingency_management``) and its reinforcement schedule.

    The schedule is stored as integer columns rather than a JSON document so that PostgreSQL checks
    each value (never negative, cap not below base) and the admin edits them as plain fields.
    Negative drug tests follow an escalating schedule with reset: the first verified negative earns
    ``points_negative_test_base``, each consecutive one ``points_negative_test_increment`` more, up to
    ``points_negative_test_cap``; a positive or missed test resets the streak and the value to the base.
    """

    name = models.TextField(unique=True)
    description = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True, db_default=True)
    points_group_attendance = models.IntegerField(default=25, db_default=25)
    points_negative_test_base = models.IntegerField(default=50, db_default=50)
    points_negative_test_increment = models.IntegerField(default=10, db_default=10)
    points_negative_test_cap = models.IntegerField(default=100, db_default=100)
    points_weekly_checkin = models.IntegerField(default=10, db_default=10)
    points_peer_support = models.IntegerField(default=20, db_default=20)
    points_enrollment_bonus = models.IntegerField(default=25, db_default=25)

    SCHEDULE_FIELDS = (
        "points_group_attendance",
        "points_negative_test_base",
        "points_negative_test_increment",
        "points_negative_test_cap",
        "points_weekly_checkin",
        "points_peer_support",
        "points_enrollment_bonus",
    )

    class Meta:
        db_table = "contingency_management"
        ordering = ["name"]
        verbose_name = "CM program"
        constraints = [
            # The document's UNIQUE(name) compares exactly; "Moonlit CM" and "moonlit cm" are one program.
            models.UniqueConstraint(
                name_key("name"),
                name="contingency_management_name_ci_uniq",
                violation_error_message="A CM program with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(
                    points_group_attendance__gte=0,
                    points_negative_test_base__gte=0,
                    points_negative_test_increment__gte=0,
                    points_negative_test_cap__gte=0,
                    points_weekly_checkin__gte=0,
                    points_peer_support__gte=0,
                    points_enrollment_bonus__gte=0,
                ),
                name="contingency_management_points_not_negative",
                violation_error_message="Point values cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(points_negative_test_cap__gte=F("points_negative_test_base")),
                name="contingency_management_cap_not_below_base",
                violation_error_message="The cap of the negative-test schedule cannot be below its base value.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def negative_test_points(self, *, streak_before: int) -> int:
        """Points for a verified negative test after ``streak_before`` consecutive negatives."""
        value = self.points_negative_test_base + self.points_negative_test_increment * max(streak_before, 0)
        return min(value, self.points_negative_test_cap)


# ---------------------------------------------------------------------------------------------------
# Enrollment and points


@pghistory.track()
class CMEnrollment(CMModel):
    """A canonical patient in a CM program with their CPSS: one per patient per program.

    ``total_points`` and ``current_streak`` are a cache of the points ledger, written only by the
    services that append to it (in the same transaction); ``cm_check_ledger`` verifies them.
    """

    canonical_patient = models.ForeignKey(
        CanonicalPatient, on_delete=models.PROTECT, related_name="enrollments", db_column="canonical_patient_id"
    )
    cm_patient = models.ForeignKey(
        CMPatient,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cm_patient_id",
        verbose_name="CM patient",
    )
    cm_program = models.ForeignKey(
        CMProgram,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cm_program_id",
        verbose_name="CM program",
    )
    # Nullable as in the document: an enrollment can wait for a CPSS (scenario 2 enrolls without one).
    cpss_provider = models.ForeignKey(
        CMProvider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cpss_provider_id",
        verbose_name="CPSS",
    )
    total_points = models.IntegerField(default=0, db_default=0)
    current_streak = models.IntegerField(default=0, db_default=0)
    enrollment_date = models.DateTimeField(default=timezone.now, db_default=Now())
    status = models.TextField(choices=CMStatus.choices, default=CMStatus.ACTIVE, db_default=CMStatus.ACTIVE)
    medicaid_verification = models.JSONField(null=True, blank=True)
    pod_assignment = models.TextField(null=True, blank=True)
    notes = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "cm_enrollments"
        ordering = ["-enrollment_date"]
        verbose_name = "CM enrollment"
        constraints = [
            models.UniqueConstraint(
                fields=["canonical_patient", "cm_program"],
                name="cm_enrollments_canonical_patient_id_cm_program_id_key",
                violation_error_message="This patient is already enrolled in this program.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", CMStatus),
                name="cm_enrollments_status_check",
                violation_error_message="Unknown status.",
            ),
            models.CheckConstraint(
                condition=Q(total_points__gte=0, current_streak__gte=0),
                name="cm_enrollments_totals_not_negative",
                violation_error_message="Points and streak cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(fields=["cpss_provider", "status"], name="cm_enrollments_caseload_idx"),
            models.Index(fields=["-enrollment_date", "id"], name="cm_enrollments_order_idx"),  # the list's order
            # The pod filter (admin and ?pod_assignment=), and its list of pods in the admin's sidebar.
            models.Index(fields=["pod_assignment"], name="cm_enrollments_pod_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_patient} in {self.cm_program}"


class EnrollmentStatusChange(models.Model):
    """The status history of an enrollment: one row when it starts and one per status move, never edited.

    Written by the enrollment services (and the importers) in the transaction that moves the status, so
    that a report can tell an enrollment's status at any past date (retention at 4, 8 and 12 weeks, the
    billing pool's end dates) without reading the audit trail. The first row of an enrollment has no
    ``from_status`` and is dated at its ``enrollment_date``. Append-only like the points ledger: database
    triggers refuse UPDATE, DELETE and TRUNCATE. Not tracked by pghistory: the table is its own history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    enrollment = models.ForeignKey(CMEnrollment, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.TextField(
        null=True, blank=True, choices=CMStatus.choices, help_text="Empty on the enrollment's first row."
    )
    to_status = models.TextField(choices=CMStatus.choices)
    changed_at = models.DateTimeField(default=timezone.now, db_default=Now())
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "cm_enrollment_status_changes"
        ordering = ["enrollment", "changed_at", "created_at"]
        verbose_name = "enrollment status change"
        constraints = [
            models.CheckConstraint(
                condition=_in_list("from_status", CMStatus, nullable=True) & _in_list("to_status", CMStatus),
                name="cm_enrollment_status_changes_status_check",
                violation_error_message="Unknown status.",
            ),
            models.CheckConstraint(
                condition=Q(from_status__isnull=True) | ~Q(from_status=F("to_status")),
                name="cm_enrollment_status_changes_is_a_change",
                violation_error_message="A status change goes to another status.",
            ),
        ]
        indexes = [
            # An enrollment's status at a date: its last row at or before it (the reports, the billing pool).
            models.Index(fields=["enrollment", "changed_at"], name="cm_status_changes_enr_time_idx"),
        ]
        triggers = append_only_triggers(
            update_message="cm_enrollment_status_changes is append-only: record a new status change instead",
            truncate_message="cm_enrollment_status_changes is append-only: it cannot be truncated",
        )

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} at {self.changed_at:%Y-%m-%d %H:%M}"


class PointsEvent(models.TextChoices):
    GROUP_ATTENDANCE = "group_attendance", "Group attendance"
    TEST_NEGATIVE = "test_negative", "Drug test: negative"
    TEST_POSITIVE = "test_positive", "Drug test: positive"
    TEST_MISSED = "test_missed", "Drug test: missed"
    WEEKLY_CHECKIN = "weekly_checkin", "Weekly check-in"
    PEER_SUPPORT = "peer_support", "Peer support"
    ENROLLMENT_BONUS = "enrollment_bonus", "Enrollment bonus"
    MANUAL_ADJUSTMENT = "manual_adjustment", "Manual adjustment"
    REVERSAL = "reversal", "Reversal"


REASON_REQUIRED_EVENTS = (PointsEvent.MANUAL_ADJUSTMENT, PointsEvent.REVERSAL)
# What the patient did (as opposed to bonuses and corrections): contact the caseload view looks for.
BEHAVIOUR_EVENTS = (
    PointsEvent.GROUP_ATTENDANCE,
    PointsEvent.TEST_NEGATIVE,
    PointsEvent.TEST_POSITIVE,
    PointsEvent.TEST_MISSED,
    PointsEvent.WEEKLY_CHECKIN,
    PointsEvent.PEER_SUPPORT,
)


class CMPointsTransaction(models.Model):
    """The points ledger: every award, deduction and correction is a new row, never an edit.

    Append-only by construction: database triggers refuse UPDATE, DELETE and TRUNCATE, so even SQL
    typed by hand cannot rewrite history (corrections are reversing entries, ``reverses``). ``sequence``
    numbers the entries of one enrollment in the order the schedule was applied; ``streak_after`` is
    the negative-test streak after the entry, so the streak can be replayed from the ledger alone.
    Not tracked by pghistory: the table is its own history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    enrollment = models.ForeignKey(CMEnrollment, on_delete=models.PROTECT, related_name="points_transactions")
    canonical_patient = models.ForeignKey(
        CanonicalPatient,
        on_delete=models.PROTECT,
        related_name="points_transactions",
        db_column="canonical_patient_id",
    )
    sequence = models.PositiveIntegerField(editable=False)
    event_type = models.TextField(choices=PointsEvent.choices)
    points = models.IntegerField(help_text="Signed: awards are positive, deductions and reversals negative.")
    reason = models.TextField(blank=True, default="", db_default="")
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The entry this one cancels (reversal entries only).",
    )
    streak_after = models.IntegerField(editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField(
        default=timezone.now, db_default=Now(), help_text="When the behaviour took place."
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "cm_points_transactions"
        ordering = ["enrollment", "sequence"]
        verbose_name = "points transaction"
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "sequence"], name="cm_points_transactions_sequence_uniq"),
            models.CheckConstraint(
                condition=_in_list("event_type", PointsEvent),
                name="cm_points_transactions_event_type_check",
                violation_error_message="Unknown event type.",
            ),
            models.CheckConstraint(
                condition=~Q(event_type__in=REASON_REQUIRED_EVENTS) | _not_blank("reason"),
                name="cm_points_transactions_reason_required",
                violation_error_message="A manual adjustment or reversal needs a reason.",
            ),
            models.CheckConstraint(
                condition=Q(event_type=PointsEvent.REVERSAL, reverses__isnull=False)
                | (~Q(event_type=PointsEvent.REVERSAL) & Q(reverses__isnull=True)),
                name="cm_points_transactions_reversal_names_entry",
                violation_error_message="A reversal names the entry it cancels, and only a reversal does.",
            ),
            models.CheckConstraint(
                condition=~Q(event_type=PointsEvent.MANUAL_ADJUSTMENT) | ~Q(points=0),
                name="cm_points_transactions_adjustment_not_zero",
                violation_error_message="A manual adjustment of zero points changes nothing.",
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1, streak_after__gte=0),
                name="cm_points_transactions_sequence_streak_range",
            ),
        ]
        indexes = [
            models.Index(fields=["canonical_patient", "occurred_at"], name="cm_points_patient_time_idx"),
            # It carries what the CPSS caseloads read of the week's entries (enrollment, event type, points):
            # that read is index-only instead of fetching ~16,000 scattered heap pages at full size.
            models.Index(
                fields=["occurred_at"],
                name="cm_points_occurred_at_idx",
                include=["enrollment", "event_type", "points"],
            ),
            # "No behaviour recorded in 7 days" on the CPSS caseload page probes each active enrollment's
            # recent entries: without it each probe intersected the whole week's entries (15 s at 400 CPSS).
            models.Index(fields=["enrollment", "occurred_at"], name="cm_points_enrollment_time_idx"),
            # The ledger list filtered by event type, in its order (newest first): page and capped count.
            models.Index(fields=["event_type", "-occurred_at", "-id"], name="cm_points_event_time_idx"),
        ]
        triggers = append_only_triggers(
            update_message="cm_points_transactions is append-only: record a reversing entry instead",
            truncate_message="cm_points_transactions is append-only: it cannot be truncated",
        )

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_event_type_display()} {self.points:+d}"


# ---------------------------------------------------------------------------------------------------
# Possible duplicates of canonical patients (cm_program.duplicates finds them; docs/DUPLICATES.md)


@pghistory.track(exclude=["updated_at"])
class CanonicalPatientDuplicatePair(DuplicatePairBase):
    """Two canonical patients that may be one human (a misspelt name, a wrong date of birth)."""

    canonical_low = models.ForeignKey(CanonicalPatient, on_delete=models.CASCADE, related_name="+")
    canonical_high = models.ForeignKey(CanonicalPatient, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "canonical_duplicate_pair"
        ordering = ["-score", "id"]
        verbose_name = "possible duplicate (canonical patients)"
        verbose_name_plural = "possible duplicates (canonical patients)"
        constraints = duplicate_pair_constraints("canonical_duplicate_pair", "canonical_low", "canonical_high")
        indexes = [
            models.Index(fields=["status", "-score", "id"], name="canonical_dup_pair_queue_idx"),
            models.Index(fields=["canonical_high"], name="canonical_dup_pair_high_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_low_id} ~ {self.canonical_high_id} ({self.score})"
