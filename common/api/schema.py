"""OpenAPI: every operation documents its error responses in the one error shape."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
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
}


class CrmAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # 404 on lists too: a page number past the end is "not found".
        codes = ["400", "401", "403", "404"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "415"] if self.method != "DELETE" else ["409"]
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _DESCRIPTIONS[code]
                responses[code] = response
        return responses
