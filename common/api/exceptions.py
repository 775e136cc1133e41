"""One JSON shape for every API error, and no 500 for anything a client can send.

    {"error": {"code": "invalid", "message": "...", "fields": {"email": ["..."]}, "existing_id": "..."}}

``fields`` is present for field-level problems, ``existing_id`` for 409 conflicts. Service errors
(Django's ``ValidationError``, ``common.errors.ConflictError``) and database constraint violations
that slip past the services are translated here, so views never catch them one by one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from common.api.throttling import throttle_refused_request
from common.errors import ConflictError, ServiceError
from common.outage import RETRY_AFTER_SECONDS, api_error_body, is_database_unavailable
from common.replicas import outside_request_transaction, request_is_atomic

logger = logging.getLogger(__name__)

_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_body(code: str, message: str, *, fields: dict | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update({k: v for k, v in extra.items() if v is not None})
    return {"error": error}


def _as_field_dict(detail: Any) -> dict[str, list[str]]:
    """DRF's error detail as ``{field: [messages]}``, the shape the schema promises: a nested serializer's or a
    dictionary's errors under a dotted key (``fields.first_name``), a list item's under its index
    (``items.2.email``); errors that name no field under ``non_field_errors``."""
    fields: dict[str, list[str]] = {}
    _collect(fields, "", detail)
    return fields


def _collect(fields: dict[str, list[str]], path: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            key = "non_field_errors" if key in ("non_field_errors", "__all__") and not path else str(key)
            _collect(fields, f"{path}.{key}" if path else key, inner)
    elif isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        for index, inner in enumerate(value):  # a list of items: each one's errors ({} for a valid one)
            _collect(fields, f"{path}.{index}" if path else str(index), inner)
    else:
        messages = value if isinstance(value, list | tuple) else [value]
        if messages:
            fields.setdefault(path or "non_field_errors", []).extend(str(m) for m in messages)


def _django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _summary(fields: dict[str, Any]) -> str:
    for field, messages in fields.items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        prefix = "" if field == "non_field_errors" else f"{field}: "
        return f"{prefix}{first}"
    return "Invalid input."


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    exc = throttle_refused_request(exc, context)
    if not request_is_atomic(context.get("request")):
        # A GET served outside the request's transaction (read replicas) has no transaction to undo; DRF's
        # handler must not mark one that encloses the request (a test's) for rollback either.
        with outside_request_transaction():
            return _handle(exc, context)
    response = _handle(exc, context)
    if response is not None:
        # Whatever the view wrote before failing is undone (ATOMIC_REQUESTS): a 4xx changes nothing.
        set_rollback()
    return response


def _handle(exc: Exception, context: dict) -> Response | None:
    if is_database_unavailable(exc):
        logger.warning("database unavailable in the API: %s", exc)
        return Response(
            api_error_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )
    if isinstance(exc, ConflictError):
        fields = {exc.field: [exc.message]} if exc.field else None
        existing = str(exc.existing_id) if exc.existing_id is not None else None
        return Response(
            error_body(exc.code, exc.message, fields=fields, existing_id=existing, **_jsonable(exc.extra)),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ServiceError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body("invalid", exc.message, fields=fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        fields = _django_validation_fields(exc)
        return Response(error_body("invalid", _summary(fields), fields=fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        # A constraint caught what the service did not check (or a race the service lost).
        logger.warning("integrity error reached the API: %s", exc)
        return Response(
            error_body("conflict", "The change conflicts with existing data and was not saved."),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        logger.warning("data error reached the API: %s", exc)
        return Response(
            error_body("invalid", "A value is out of range or malformed; nothing was saved."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        # Raised while DRF reads the body for the parser; Django would answer with an HTML 400 page.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body("parse_error", f"The body is larger than the {limit} bytes the API accepts."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = _as_field_dict(exc.detail)
        response.data = error_body(code, _summary(fields), fields=fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body("parse_error", str(exc.detail))
    else:
        detail = getattr(exc, "detail", None)
        message = str(detail) if detail is not None else "Error."
        response.data = error_body(getattr(exc, "default_code", code) if code == "error" else code, message)
    return response


def _jsonable(extra: dict) -> dict:
    return {k: (str(v) if not isinstance(v, str | int | float | bool | list | dict) else v) for k, v in extra.items()}
