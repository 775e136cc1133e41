"""CM providers (CPSS staff): who they are and the user account they sign in with."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cm_program.models import (
    CMProvider,
    CMStatus,
    ProviderRole,
    ProviderStatus,
)
from cm_program.services._common import _clean_choice, _clean_name, _clean_phone, _clean_text
from common.audit import audit_context
from common.errors import ConflictError
from people.models import User
from people.normalize import clean_email

PROVIDER_FIELDS = (
    "canonical_provider_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "role",
    "credentials",
    "hire_date",
    "status",
    "max_caseload",
    "user",
    "person",
)


def _clean_provider(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown CM provider fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("first_name", "last_name"):
            cleaned[name] = _clean_name(value, field=name)
        elif name == "email":
            cleaned[name] = clean_email(value, field="email")
        elif name == "phone":
            cleaned[name] = _clean_phone(value, field="phone")
        elif name == "role":
            cleaned[name] = _clean_choice(value, field="role", choices=ProviderRole, required=True)
        elif name == "status":
            cleaned[name] = _clean_choice(value, field="status", choices=ProviderStatus, required=True)
        elif name == "max_caseload":
            if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError({"max_caseload": ["The maximum caseload is a whole number, 0 or more."]})
            cleaned[name] = value
        elif name == "hire_date":
            if value is not None and value > timezone.localdate():
                raise ValidationError({"hire_date": ["The hire date cannot be in the future."]})
            cleaned[name] = value
        elif name in ("credentials",):
            cleaned[name] = _clean_text(value, field=name)
        else:
            cleaned[name] = value
    return cleaned


def _provider_duplicate_email(email: str | None, *, exclude_pk=None) -> None:
    if not email:
        return
    other = CMProvider.objects.filter(email=email).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(f"A CM provider with email {email} already exists.", existing_id=other.pk, field="email")


def _provider_user_taken(user: User | None, *, exclude_pk=None) -> None:
    if user is None:
        return
    other = CMProvider.objects.filter(user=user).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(f"The login {user} already belongs to {other}.", existing_id=other.pk, field="user")


@transaction.atomic
def cm_provider_create(*, first_name: str, last_name: str, actor: User | None = None, **fields: Any) -> CMProvider:
    """Create a CPSS / supervisor / admin record. Role and status come from the document's lists,
    the email is unique (ignoring case), a login belongs to at most one provider."""
    cleaned = _clean_provider({"first_name": first_name, "last_name": last_name, **fields})
    with audit_context(actor=actor):
        _provider_duplicate_email(cleaned.get("email"))
        _provider_user_taken(cleaned.get("user"))
        return CMProvider.objects.create(**cleaned)


@transaction.atomic
def cm_provider_update(*, provider: CMProvider, actor: User | None = None, **changes: Any) -> CMProvider:
    """Change a provider. Rule: the maximum caseload never drops below the active enrollments the CPSS
    holds, and a CPSS with active enrollments cannot be made inactive (reassign them first)."""
    cleaned = _clean_provider(changes)
    with audit_context(actor=actor):
        locked = CMProvider.objects.select_for_update().get(pk=provider.pk)
        _provider_duplicate_email(cleaned.get("email"), exclude_pk=locked.pk)
        _provider_user_taken(cleaned.get("user"), exclude_pk=locked.pk)
        active = locked.enrollments.filter(status=CMStatus.ACTIVE).count()
        if "max_caseload" in cleaned and cleaned["max_caseload"] < active:
            raise ValidationError(
                {"max_caseload": [f"{locked} holds {active} active enrollments; the maximum cannot be lower."]}
            )
        if cleaned.get("status") == ProviderStatus.INACTIVE and active:
            raise ValidationError(
                {"status": [f"{locked} holds {active} active enrollments; reassign them before deactivating."]}
            )
        for name, value in cleaned.items():
            setattr(locked, name, value)
        if cleaned:
            locked.save()
        return locked
