"""Reading the legacy CRM's cell values: dates, booleans, phones, emails.

Each parser returns the value or raises ``BadValue`` with a message naming the column, which the row's
report line carries ("unparseable booking_date '31/02/2023'").
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings

from people.normalize import normalize_email


class BadValue(ValueError):
    pass


_TIME_ZONE = ZoneInfo(settings.TIME_ZONE)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def parse_date(value: str, column: str) -> dt.date | None:
    """ISO dates (``2023-01-31``); a datetime's date part is taken (``2023-01-31 10:00:00``)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise BadValue(f"unparseable {column} (expected YYYY-MM-DD)") from None


def parse_datetime(value: str, column: str) -> dt.datetime | None:
    """ISO date or date and time; without a zone it is read in ``TIME_ZONE``; a date alone is midnight."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"unparseable {column} (expected YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_TIME_ZONE)


def midnight(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), tzinfo=_TIME_ZONE)


def parse_bool(value: str, column: str) -> bool | None:
    if not value:
        return None
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(f"unreadable {column} (expected true/false, yes/no or 1/0)")


def parse_email(value: str) -> str | None:
    """Normalised (trimmed, lower case); an empty cell is None. Malformed addresses are refused."""
    email = normalize_email(value)
    if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
        raise BadValue("invalid email")
    return email


_NANP_REGIONS = {"US", "CA"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NANP = re.compile(r"^\+?1?\D*([2-9]\d{2})\D*([2-9]\d{2})\D*(\d{4})\s*$")


@lru_cache(maxsize=65536)
def _nanp_prefix_valid(region: str, prefix: str) -> bool:
    # libphonenumber's North-American validity depends on the area code and the exchange; the line
    # number's four digits are checked with a representative one.
    parsed = phonenumbers.parse(f"+1{prefix}0123", region)
    return phonenumbers.is_valid_number(parsed)


def parse_phone(value: str, region: str) -> str | None:
    """E.164, or None when the number does not parse (the caller keeps the text and reports it).

    North-American numbers (the bulk of the old data) take a fast path: parsing each one with
    libphonenumber costs ~45 µs, which alone would halve the import's speed; validity of a NANP
    number is decided by its area code and exchange, checked once per prefix and cached.
    """
    if not value:
        return ""
    if value.startswith("+1") or (region in _NANP_REGIONS and not value.startswith("+")):
        match = _NANP.match(value)
        if match is not None:
            prefix = match.group(1) + match.group(2)
            if _nanp_prefix_valid(region, prefix):
                return f"+1{prefix}{match.group(3)}"
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
