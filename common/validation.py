"""Collecting bad-input errors field by field, so a caller sees every problem at once; refusing control
characters in text, and printing stored text safely."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError


class FieldErrors:
    """``field -> [messages]``; ``raise_if_any`` raises one ``ValidationError`` naming every field."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def absorb(self, exc: ValidationError, *, field: str) -> None:
        """Take over the messages of a ``ValidationError`` (keyed by field when it has keys)."""
        if hasattr(exc, "error_dict"):
            for key, messages in exc.message_dict.items():
                for message in messages:
                    self.add(key, message)
        else:
            for message in exc.messages:
                self.add(field, message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


# --- Control characters in text ----------------------------------------------------------------------------
#
# Text typed by people never holds control characters. Stored, they corrupt what prints them later (an
# ESC or a C1 CSI in a name rewrites the terminal of whoever runs a management command; NUL is refused by
# PostgreSQL itself), and lone UTF-16 surrogates are not text at all (they cannot be encoded to UTF-8).
# Refused: C0 (U+0000-U+001F) and DEL, C1 (U+0080-U+009F), lone surrogates (U+D800-U+DFFF). Multi-line
# fields (notes, descriptions, reasons, addresses) keep tab, line feed and carriage return.

_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# What a terminal or a log line must not receive raw: the above, tab and line breaks included, plus the
# Unicode line and paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is refused as text (naming the first bad character and its position), or None."""
    found = (_MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN).search(value)
    if found is None:
        return None
    code = ord(found.group())
    if code == 0:
        return f"Null characters are not allowed. U+0000 at position {found.start() + 1}; remove it."
    if 0xD800 <= code <= 0xDFFF:
        kind = "an unpaired surrogate"
    elif code in (0x09, 0x0A, 0x0D):
        kind = "a tab or line break, which this single-line field does not take:"
    else:
        kind = "a control character"
    return f"Contains {kind} U+{code:04X} at position {found.start() + 1}; remove it."


def check_text(value: Any, *, field: str, multiline: bool = False, errors: FieldErrors | None = None) -> None:
    """Refuse control characters in ``value`` (a string; anything else is left to the caller's type checks).

    With ``errors`` the problem is added there; without, a ``ValidationError`` naming ``field`` is raised.
    """
    if not isinstance(value, str):
        return
    problem = control_character_problem(value, multiline=multiline)
    if problem is None:
        return
    if errors is not None:
        errors.add(field, problem)
    else:
        raise ValidationError({field: [problem]})


def printable(value: Any) -> str:
    """``str(value)`` safe for a terminal or a log line: control characters, line breaks and lone
    surrogates are shown as escapes (``\\x1b``, ``\\u2028``). Rows stored before control characters were
    refused may still hold them."""
    return _UNPRINTABLE.sub(_escape, str(value))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
