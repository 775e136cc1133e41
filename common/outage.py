"""What a client sees while the database is unreachable: a 503 that says so, never an error page.

A lost database surfaces as ``django.db.OperationalError`` / ``InterfaceError`` wherever the first
query happens: in a view, in DRF's token authentication, or in a middleware (the session behind
``request.user``). Django wraps every middleware in ``convert_exception_to_response``, so no outer
middleware can catch what an inner one raises; the error is answered where it arrives:

* DRF views: ``common.api.exceptions.api_exception_handler`` calls ``database_unavailable_response``;
* other views: ``DatabaseUnavailableMiddleware.process_exception``;
* anything else (a middleware's query, e.g. the session behind ``request.user``): ``server_error``,
  the project's ``handler500``, which looks at the exception being handled (``sys.exc_info()``).

Under ``/api/`` the answer is the API's JSON error shape with code ``database_unavailable``; under
``/health/`` the health check's own body; elsewhere a plain page rendered without the database (no
context processors, no user). Each carries ``Retry-After``. Recovery needs no restart: connections
are health-checked before reuse (``CONN_HEALTH_CHECKS``).
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying: a restart or fail-over of PostgreSQL takes about that.
RETRY_AFTER_SECONDS = 10
DATABASE_UNAVAILABLE_CODE = "database_unavailable"
DATABASE_UNAVAILABLE_MESSAGE = "The database is temporarily unavailable. Nothing was saved; retry shortly."
TEMPLATE = "common/database_unavailable.html"
_FALLBACK_PAGE = (
    "<!doctype html><title>Temporarily unavailable</title>"
    "<h1>Temporarily unavailable</h1><p>Please try again in a minute.</p>"
)


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True for the errors of an unreachable or restarting database (and of a dropped connection)."""
    return isinstance(exc, OperationalError | InterfaceError)


def _headers(response: HttpResponse) -> HttpResponse:
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def api_error_body() -> dict:
    from common.api.exceptions import error_body

    return error_body(DATABASE_UNAVAILABLE_CODE, DATABASE_UNAVAILABLE_MESSAGE)


def database_unavailable_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    logger.warning("database unavailable: %s %s: %s", request.method, request.path, exc)
    path = request.path
    if path.startswith("/api/"):
        return _headers(JsonResponse(api_error_body(), status=503))
    if path.startswith("/health/"):
        return _headers(JsonResponse({"status": "degraded", "database": "unavailable"}, status=503))
    try:
        # No request: no context processors, so nothing touches the session, the user or the database.
        content = loader.render_to_string(TEMPLATE, {"retry_after": RETRY_AFTER_SECONDS})
    except Exception:  # the page must never fail; a missing template is not worth a 500
        logger.exception("could not render %s", TEMPLATE)
        content = _FALLBACK_PAGE
    return _headers(HttpResponse(content, status=503, content_type="text/html; charset=utf-8"))


class DatabaseUnavailableMiddleware:
    """Answers a view's database-unavailable error with a 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: a 503 when the error being handled is the database's; the API's JSON shape for
    any other error under ``/api/``; Django's page elsewhere."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return database_unavailable_response(request, exc)
    if request.path.startswith("/api/"):
        from common.api.exceptions import error_body

        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return django_server_error(request, template_name)
