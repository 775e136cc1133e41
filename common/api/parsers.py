"""The API's JSON parser: any body it refuses is a 400 in the API's error shape, never a 500.

DRF's own ``JSONParser`` lets a few bodies through to a server error or to an ambiguous reading:

* deeply nested JSON (``{"a":{"a":...}}`` a few thousand levels down) exhausts the interpreter's stack
  inside ``json.loads`` (``RecursionError``, a 500). No resource here takes more than a few levels, so
  anything nested deeper than ``MAX_DEPTH`` is refused before parsing, and a ``RecursionError`` is
  caught as well;
* the body is decoded with the request's ``charset`` (an unknown one is a ``LookupError``, a 500). JSON
  is UTF-8 (RFC 8259, section 8.1): the body is read as strict UTF-8 whatever the header says;
* duplicate keys (``{"first_name": "Ann", "first_name": "Bob"}``) silently keep the last value; a proxy
  or a log reader may keep the first. Refused, naming the key;
* ``1e999`` becomes ``inf`` (``NaN`` and ``Infinity`` were already refused): numbers are finite;
* ``"\\ud800"`` (an escape of a lone UTF-16 surrogate) yields a string that cannot be encoded to UTF-8:
  echoing it in an error message or storing it failed with a 500. Refused as a field error naming
  where it was.

Parse problems are ``ParseError`` (code ``parse_error``, message starting ``JSON parse error``); a lone
surrogate is a ``ValidationError`` (code ``invalid``) naming the field.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from common.validation import printable

MAX_DEPTH = 32

# A JSON string literal (possessive: linear time on any input); brackets inside strings do not nest.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_error(reason: str) -> exceptions.ParseError:
    return exceptions.ParseError(f"JSON parse error - {reason}")


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (0 for a scalar), without parsing it."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_DEPTH_STEP[c] for c in brackets), default=0)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                return here
            found = _surrogate_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{index}]" if path else f"[{index}]")
            if found is not None:
                return found
    return None


class StrictJSONParser(JSONParser):
    """``application/json`` bodies: strict UTF-8, at most ``MAX_DEPTH`` levels, no duplicate keys, finite
    numbers, no lone surrogates."""

    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _parse_error(f"the body is not valid UTF-8 (byte {exc.start + 1}); JSON is UTF-8.") from None
        depth = nesting_depth(text)
        if depth > self.max_depth:
            raise _parse_error(f"arrays and objects nest {depth} levels deep; at most {self.max_depth} are accepted.")
        try:
            data = json.loads(
                text,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                object_pairs_hook=_object_without_duplicates,
            )
        except _DuplicateKey as exc:
            raise _parse_error(f"the key {printable(exc.args[0])!r} appears twice in one object.") from None
        except RecursionError:
            raise _parse_error(f"nested too deeply; at most {self.max_depth} levels are accepted.") from None
        except ValueError as exc:
            raise _parse_error(str(exc)) from None
        where = _surrogate_path(data)
        if where is not None:
            raise exceptions.ValidationError(
                {printable(where): ["Contains an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape): not text."]}
            )
        return data
