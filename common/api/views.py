"""Building blocks for the API viewsets of every app."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from common.api.exceptions import error_body

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class UUIDLookupMixin:
    """Only UUID-shaped ids reach the database; anything else is a 404 at routing time."""

    lookup_value_regex = UUID_PATTERN


@csrf_exempt  # an unknown API address is a 404 whatever the method, not a CSRF refusal
def api_not_found(request, exception=None):
    """JSON 404 for unknown URLs under /api/, in the API's error shape."""
    return JsonResponse(error_body("not_found", "No API endpoint at this address."), status=404)
