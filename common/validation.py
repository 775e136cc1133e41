"""Collecting bad-input errors field by field, so a caller sees every problem at once."""

from __future__ import annotations

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
