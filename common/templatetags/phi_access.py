from __future__ import annotations

from django import template

from common.phi_access import who_looked_url

register = template.Library()


@register.simple_tag(takes_context=True)
def who_looked_at_url(context, obj) -> str:
    """The "who looked at this patient" link of a record's admin page: superusers only, patient data only."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if obj is None or user is None or not (user.is_active and user.is_superuser):
        return ""
    return who_looked_url(obj) or ""
