"""Every write operation of the API (walked from its OpenAPI schema) refuses what it does not take, by name,
and writes nothing: unknown fields, numbers where text belongs, control characters, and bodies the JSON
parser refuses (too deep, not UTF-8, NaN, duplicate keys, not an object). Never a 500."""

from __future__ import annotations

import json

import pytest

from tests.cm_program.api_support import error, world
from tests.common import api_walk
from tests.common.api_walk import UNKNOWN, Operation, build_context, good_body, url, write_operations, written

__all__ = ["world"]

pytestmark = pytest.mark.django_db

OPERATIONS = write_operations()
IDS = [op.id for op in OPERATIONS]


@pytest.fixture
def ctx(world):
    return build_context(world)


def send(ctx, operation: Operation, body=None, *, raw: bytes | None = None):
    client = ctx.world.client("superuser")
    call = getattr(client, operation.method)
    target = url(operation, ctx)
    if raw is not None:
        return call(target, data=raw, content_type="application/json")
    return call(target, body, format="json")


def test_every_write_operation_is_walked():
    assert len(OPERATIONS) >= 70
    paths = {op.path for op in OPERATIONS}
    for path in paths:
        if "{id}" in path and "{enrollment_id}" not in path:
            assert path.split("{id}")[0] in api_walk.RECORDS, f"{path}: add its record to api_walk.RECORDS"
    posts = {op.id for op in OPERATIONS if op.method == "post" and not op.path.endswith(api_walk.NO_BODY_POSTS)}
    assert posts == set(api_walk.GOOD_BODIES), "api_walk.GOOD_BODIES must name a body for every POST"


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
def test_an_unknown_field_is_400_naming_it_and_writes_nothing(ctx, operation):
    body = good_body(operation, ctx)
    before = written()
    response = send(ctx, operation, {**body, UNKNOWN: "x"})
    assert response.status_code == 400, response.content[:500]
    problem = error(response)
    # The unknown field is the only thing wrong with the request.
    assert problem["code"] == "invalid" and set(problem["fields"]) == {UNKNOWN}, problem
    assert problem["fields"][UNKNOWN][0].startswith("Unknown field"), problem
    assert written() == before
    # The same body without it is accepted (so the refusal above was about the unknown field alone).
    accepted = send(ctx, operation, body)
    assert accepted.status_code in (200, 201, 204), accepted.content[:500]


# Operations whose body has string fields (DELETE's optional body {"reason": "..."} included).
WITH_STRINGS = [op for op in OPERATIONS if api_walk.string_properties(op) or "reason" in op.query_parameters]


@pytest.mark.parametrize("operation", WITH_STRINGS, ids=[op.id for op in WITH_STRINGS])
def test_every_string_field_refuses_numbers_booleans_and_control_characters(ctx, operation):
    body = good_body(operation, ctx)
    strings = api_walk.string_properties(operation)
    if "reason" in operation.query_parameters:  # DELETE's optional body {"reason": "..."}
        strings["reason"] = {"type": "string"}
    free_text = set(api_walk.free_text_properties(operation)) | ({"reason"} & set(strings))
    before = written()
    wrong = []
    for name in strings:
        values = [-1, 12.5, True]
        if name in free_text:
            values += ["Ann\x1b[2J", "Ann\u009bm", "Ann\x00", "Ann\x7f"]
        for value in values:
            response = send(ctx, operation, {**body, name: value})
            if response.status_code != 400 or name not in error(response).get("fields", {}):
                wrong.append(f"{name}={value!r}: {response.status_code} {response.content[:200]!r}")
    assert not wrong, "\n".join(wrong)
    assert written() == before


NOT_ACCEPTED = {
    "nested 3000 deep (6 KB)": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "arrays 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "33 levels": b'{"a":' * 33 + b"1" + b"}" * 33,
    "invalid UTF-8": b'{"first_name": "Ann\xff\xfe"}',
    "Latin-1 text": '{"first_name": "Ren\u00e9e"}'.encode("latin-1"),
    "NaN": b'{"points": NaN}',
    "Infinity": b'{"points": -Infinity}',
    "1e999": b'{"points": 1e999}',
    "a duplicate key": b'{"reason": "a", "reason": "b"}',
    "truncated": b'{"first_name": "Ann", ',
    "a top-level array": b"[]",
    "a top-level string": b'"hello"',
    "a top-level number": b"42",
    "a top-level null": b"null",
    "a top-level boolean": b"true",
}


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
def test_every_body_the_parser_refuses_is_400_in_the_error_shape(ctx, operation):
    before = written()
    wrong = []
    for label, raw in NOT_ACCEPTED.items():
        response = send(ctx, operation, raw=raw)
        body = response.json() if response["Content-Type"].startswith("application/json") else None
        if response.status_code != 400 or body is None or set(body) != {"error"}:
            wrong.append(f"{label}: {response.status_code} {response.content[:200]!r}")
            continue
        if body["error"]["code"] not in ("parse_error", "invalid"):
            wrong.append(f"{label}: code {body['error']['code']}")
    assert not wrong, "\n".join(wrong)
    assert written() == before


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "JSON parse error - arrays and objects nest 3000 levels deep"),
        (b'{"first_name": "Ann\xff"}', "JSON parse error - the body is not valid UTF-8 (byte 20)"),
        (b'{"first_name": "Ann", "first_name": "Bob"}', "JSON parse error - the key 'first_name' appears twice"),
        (b'{"points": NaN}', "JSON parse error - NaN is not a JSON number"),
        (b'{"points": 1e999}', "JSON parse error - the number 1e999 is out of range"),
    ],
)
def test_parse_errors_say_what_is_wrong(superuser, raw, message):
    from tests.navigation_api import client_for

    response = client_for(superuser).post("/api/v1/persons/", data=raw, content_type="application/json")
    assert response.status_code == 400
    problem = response.json()["error"]
    assert problem["code"] == "parse_error" and problem["message"].startswith(message), problem


def test_a_lone_surrogate_is_400_naming_where_it_is(superuser):
    from tests.navigation_api import client_for

    raw = json.dumps({"first_name": "Ann\ud800", "last_name": "Lee"}).encode()  # json escapes it as \ud800
    response = client_for(superuser).post("/api/v1/persons/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "first_name": ["Contains an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape): not text."]
    }
    nested = json.dumps({"person": {"first_name": "Ann", "last_name": "\udc00"}}).encode()
    response = client_for(superuser).post("/api/v1/patients/", data=nested, content_type="application/json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"person.last_name"}


def test_a_body_above_the_upload_limit_is_400_in_the_error_shape(superuser, settings):
    from tests.navigation_api import client_for

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = b'{"first_name": "' + b"x" * 2000 + b'", "last_name": "Lee"}'
    response = client_for(superuser).post("/api/v1/persons/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "parse_error", "message": "The body is larger than the 1000 bytes the API accepts."}
    }
