"""The CM profile of a canonical patient: the contact and program data CM keeps apart from the EMR."""

from __future__ import annotations

import pghistory
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Value

from cm_program.models.base import CMModel, CMStatus, _in_list
from cm_program.models.identity import CanonicalPatient
from common.search import search_indexes


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
