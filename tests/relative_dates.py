"""Dates and times relative to when a test runs, for ``parametrize`` lists.

A value such as ``timezone.localdate() + timedelta(days=1)`` written in a ``parametrize`` list (or at
module level, or as a default argument) is computed once, when pytest collects the module: a suite that
crosses midnight then runs the test with a "tomorrow" that has become today, and a "the date is in the
future" test fails. ``FromToday`` and ``FromNow`` stand in for such a value in the list; the test turns
them into dates with ``resolve`` when it runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class FromToday:
    """Today's local date plus ``days``; with ``iso`` its ``YYYY-MM-DD`` text (an API body)."""

    days: int
    iso: bool = False

    def __call__(self) -> dt.date | str:
        value = timezone.localdate() + dt.timedelta(days=self.days)
        return value.isoformat() if self.iso else value


@dataclass(frozen=True)
class FromNow:
    """The current instant plus ``days`` and ``hours``."""

    days: int = 0
    hours: int = 0

    def __call__(self) -> dt.datetime:
        return timezone.now() + dt.timedelta(days=self.days, hours=self.hours)


def resolve(values: dict) -> dict:
    """``values`` with each ``FromToday`` / ``FromNow`` replaced by its value now."""
    return {key: value() if isinstance(value, FromToday | FromNow) else value for key, value in values.items()}
