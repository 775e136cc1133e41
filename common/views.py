from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
@transaction.non_atomic_requests  # ATOMIC_REQUESTS would need the database before the view could report it down
def health(request):
    """Liveness and database reachability for load balancers: 200 when the database answers, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("health check: database unavailable", exc_info=True)
        return JsonResponse({"status": "degraded", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def not_found(request, exception=None):
    """404 page: the API's JSON error shape under /api/, Django's page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        from common.api.views import api_not_found

        return api_not_found(request, exception)
    return page_not_found(request, exception)


def csrf_failure(request, reason=""):
    """CSRF refusals in the API's JSON error shape under /api/, Django's page elsewhere."""
    from django.views.csrf import csrf_failure as django_csrf_failure

    if request.path.startswith("/api/"):
        from common.api.exceptions import error_body

        return JsonResponse(error_body("permission_denied", f"CSRF check failed: {reason}"), status=403)
    return django_csrf_failure(request, reason)
