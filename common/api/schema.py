"""OpenAPI: every operation documents its error responses in the one error shape."""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable code: invalid, parse_error, not_found, conflict, unavailable, ..."
    )
    message = serializers.CharField(help_text="Human-readable summary.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name -> list of problems with that field.",
    )
    existing_id = serializers.UUIDField(required=False, help_text="409 only: the id of the existing record.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    "400": "Invalid input: `error.fields` names each field and the reason. Nothing was changed.",
    "401": "Not authenticated: send `Authorization: Token <key>`.",
    "403": "Authenticated, but your role may not do this.",
    "404": "Not found, outside your scope, or a page number past the last page.",
    "409": "Conflicts with existing data; `error.existing_id` points at the existing record. Code `unavailable`: "
    "the email cannot be used (someone outside your program has it); no record is named, nothing was changed.",
    "415": "Unsupported media type: send `application/json`.",
    "429": "Too many requests: wait the seconds that `Retry-After` gives (rates: docs/API.md, Throttling).",
    "422": "The `Idempotency-Key` was already used for a different request.",
    "503": "The database cannot be reached; nothing was changed. Retry after `Retry-After` seconds.",
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Makes a retry safe: the same key and request within 24 hours answer the first response "
    "again (with `Idempotent-Replayed: true`) and write nothing. 1-255 printable ASCII characters. "
    "See docs/API.md.",
)


def _idempotent(path: str) -> bool:
    from common.idempotency import applies_to  # at call time: the module needs the apps loaded

    return applies_to(path)


def tag_for_path(path: str) -> str:
    """The tag of an operation that names none: its resource, the first part after ``/api/v<n>/``, and for the
    CM API (``/api/v1/cm/...``) "cm <resource>" (as "cm merges" is named). drf-spectacular's own rule takes the
    part after the paths' common prefix, which is ``/api`` (the schema and docs pages live there too): every CM
    operation was tagged "v1"."""
    parts = [part for part in re.sub(r"^/api/v\d+/", "", path).split("/") if part and not part.startswith("{")]
    if len(parts) > 1 and parts[0] == "cm":
        return f"cm {parts[1]}"
    return parts[0] if parts else "api"


class CrmAutoSchema(AutoSchema):
    def get_tags(self) -> list[str]:
        return [tag_for_path(self.path)]

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST" and _idempotent(self.path):
            return [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # 404 on lists too: a page number past the end is "not found".
        codes = ["400", "401", "403", "404"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "415"] if self.method != "DELETE" else ["409"]
        codes.append("429")  # every request is throttled (common.api.throttling)
        codes.append("503")  # the database cannot be reached (common.outage)
        if self.method == "POST" and _idempotent(self.path):
            codes.append("422")
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _DESCRIPTIONS[code]
                responses[code] = response
        return responses
