"""The elements of JSON arrays read from a stream: IntakeQ's API pages, concatenated or one per file.

``json.load`` would hold the whole file (and every client object) in memory; this reads a chunk at a
time and decodes one element at a time with ``JSONDecoder.raw_decode``, so memory stays at one chunk
plus one client object whatever the file's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from common.imports.files import ImportFileError, ImportFiles

CHUNK = 1 << 20
_WHITESPACE = " \t\r\n"


def read_json_elements(files: ImportFiles, name: str, *, chunk: int = CHUNK) -> Iterator[tuple[int, object]]:
    """``(line, element)`` for each element of the file's top-level arrays, in order.

    A file holds one array (one page of ``GET /clients``), several arrays one after the other (pages
    concatenated, with or without whitespace between them), or a single object. ``line`` is the line
    on which the element starts (the first line is 1). Anything else fails with an ``ImportFileError``
    naming the file, the line and what was found.
    """
    decoder = json.JSONDecoder()
    with files.open_text(name) as stream:
        buffer = ""
        pos = 0
        line = 1  # the line of buffer[pos]
        eof = False
        in_array = False
        expect_value = True  # inside an array: a value may come (start, or after a comma)
        seen_any = False

        def fill() -> bool:
            nonlocal buffer, pos, eof
            if eof:
                return False
            try:
                data = stream.read(chunk)
            except UnicodeDecodeError as exc:
                raise ImportFileError(f"{name}: not UTF-8 text after line {line} ({exc.reason})") from None
            if not data:
                eof = True
                return False
            buffer = buffer[pos:] + data
            pos = 0
            return True

        def advance(to: int) -> None:
            nonlocal pos, line
            line += buffer.count("\n", pos, to)
            pos = to

        while True:
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                advance(pos + 1)
            if pos >= len(buffer):
                if fill():
                    continue
                break
            char = buffer[pos]
            if not in_array:
                if char == "[":
                    in_array, expect_value, seen_any = True, True, True
                    advance(pos + 1)
                    continue
                if char == "{":
                    value = _decode(decoder, name, line, fill, lambda: (buffer, pos))
                    seen_any = True
                    start_line = line
                    advance(value[1])
                    yield start_line, value[0]
                    continue
                raise ImportFileError(f"{name}: line {line}: expected a list of clients ('['), found {char!r}")
            if char == "]":
                in_array = False
                advance(pos + 1)
                continue
            if char == ",":
                if expect_value:
                    raise ImportFileError(f"{name}: line {line}: a comma where a client was expected")
                expect_value = True
                advance(pos + 1)
                continue
            if not expect_value:
                raise ImportFileError(f"{name}: line {line}: expected ',' or ']' after a client, found {char!r}")
            value = _decode(decoder, name, line, fill, lambda: (buffer, pos))
            start_line = line
            advance(value[1])
            expect_value = False
            yield start_line, value[0]
        if in_array:
            raise ImportFileError(f"{name}: line {line}: the file ends inside a list (']' missing)")
        if not seen_any:
            raise ImportFileError(f"{name}: empty file (a list of clients is required)")


def _decode(decoder, name, line, fill, current) -> tuple[object, int]:
    """One JSON value starting at the current position, reading more of the stream while it is cut."""
    while True:
        buffer, pos = current()
        try:
            return decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as exc:
            # A value cut by the end of the chunk fails too: read on; at the end of the file it is an error.
            if not fill():
                raise ImportFileError(f"{name}: line {line}: not valid JSON ({exc.msg})") from None
