"""The orjson renderer writes what DRF's JSONRenderer writes (it only writes it faster)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from common.api.renderers import ORJSONRenderer


def test_the_same_bytes_as_drf_for_what_the_api_returns():
    data = ReturnDict(
        {
            "count": 2,
            "next": None,
            "results": ReturnList(
                [
                    {"id": str(uuid.UUID(int=1)), "name": "José Müller", "notes": "line\u2028break", "ok": True},
                    {"id": str(uuid.UUID(int=2)), "points": 1.5, "empty": [], "nested": {"a": None}},
                ],
                serializer=None,
            ),
        },
        serializer=None,
    )
    assert ORJSONRenderer().render(data) == JSONRenderer().render(data)


def test_values_orjson_does_not_know_go_through_drfs_encoder():
    data = {
        "amount": decimal.Decimal("12.50"),
        "label": gettext_lazy("Active"),
        "at": dt.datetime(2026, 1, 31, 14, 0, 0, 123456, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 31),
        "uuid": uuid.UUID(int=3),
    }
    assert ORJSONRenderer().render(data) == JSONRenderer().render(data)


def test_indented_output_is_drfs():
    data = {"a": [1, 2]}
    media = "application/json; indent=2"
    assert ORJSONRenderer().render(data, media) == JSONRenderer().render(data, media)
    assert ORJSONRenderer().render(None) == b""
