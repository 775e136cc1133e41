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


class UnavailableError(ConflictError):
    """A key (an email) that the acting user may not use: it belongs to a Person outside their program,
    or to one they may not see (deleted, and they cannot restore). The answer is the same for every such
    key and names nothing (no id, no stored value), so it cannot be used to learn who is on file in a
    program the user does not work in (42 CFR Part 2 for CM, HIPAA for both)."""

    code = "unavailable"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
