"""What every CM model shares: the UUID key and timestamps, the status list, the name key, the CHECK helpers."""

from __future__ import annotations

import uuid

from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import Func, Q
from django.db.models.functions import Length, Lower, Now, Trim
from django.utils import timezone


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
