"""CPSS peer-support staff (the document's ``providers_cm``)."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from cm_program.models.base import CMModel, _in_list
from people.normalize import normalize_email


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
