"""JSON responses through orjson: the same bytes DRF's renderer writes, several times faster.

Measured with ``python -m bench.api_path`` (docs/PERFORMANCE.md, "API lists"): rendering a page of 50
patients is the largest single cost of a list request after the serializer. Whatever orjson cannot encode
natively (``Decimal``, lazy translations, sets...) goes through DRF's own encoder, so every value is written
as before; a client asking for indented output (``Accept: application/json; indent=4``) gets DRF's renderer.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    return _fallback.default(value)


class ORJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        body = orjson.dumps(data, default=_default, option=_OPTIONS)
        # As DRF does: U+2028 / U+2029 are valid JSON but end a line in JavaScript.
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body
