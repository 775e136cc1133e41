"""Errors raised by services. The admin turns them into form errors, the API into 4xx responses.

``ValidationError`` (Django's) carries field -> messages for bad input (400). ``ConflictError`` is for
a clash with existing data (409) and carries the id of the existing record so a caller can go to it.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "service_error"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class ConflictError(ServiceError):
    """The request clashes with existing data (duplicate patient, already enrolled, caseload full...)."""

    code = "conflict"

    def __init__(self, message: str, *, existing_id: Any = None, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, field=field, **extra)
        self.existing_id = existing_id
