"""Database expressions shared by the apps' constraints (importable by migrations)."""

from __future__ import annotations

from django.contrib.postgres.fields import DateTimeRangeField
from django.db.models import Func


class TsTzRange(Func):
    """``tstzrange(lower, upper)``: a NULL upper bound means "still open", i.e. unbounded."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def constraint_name(exc: BaseException) -> str | None:
    """The name of the PostgreSQL constraint behind an ``IntegrityError`` (None when unknown)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
