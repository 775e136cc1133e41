"""Normalisation of contact data, shared by models, services, forms and importers."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

DEFAULT_PHONE_REGION = getattr(settings, "PHONE_DEFAULT_REGION", "US")


def normalize_email(value: str | None) -> str | None:
    """Trim and lower-case; an empty value becomes ``None`` (a person may have no email).

    Lower-casing the local part too is deliberate: the returning-patient rule treats
    ``Ann@X.org`` and ``ann@x.org`` as the same person.
    """
    if value is None:
        return None
    value = value.strip().lower()
    return value or None


def clean_email(value: str | None, *, field: str = "email") -> str | None:
    email = normalize_email(value)
    if email is not None:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({field: f"'{value}' is not a valid email address."}) from None
    return email


def normalize_phone(value: str | None, *, region: str | None = None, field: str = "phone") -> str:
    """Parse a phone number and return it in E.164 (``+18015550123``); blank stays blank.

    Numbers without a country code are read in ``PHONE_DEFAULT_REGION`` (US by default).
    """
    if value is None or not value.strip():
        return ""
    try:
        parsed = phonenumbers.parse(value, region or DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError({field: f"'{value}' is not a phone number."}) from None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValidationError({field: f"'{value}' is not a valid phone number."})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
