"""Template helpers of the patient-navigation admin pages."""

from __future__ import annotations

from django import template

from patients.admin_views import display_phone

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """An E.164 number grouped for reading: +18015550123 -> +1 801-555-0123."""
    return display_phone(value)
