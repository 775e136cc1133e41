"""Input files of an import, from a folder (the command line) or from the database (an upload), read
as streams so that memory does not grow with the file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from django.db import connection


class ImportFileError(Exception):
    """A file that cannot be read as the contract says (missing, missing column, not UTF-8, ...).

    The command turns it into a ``CommandError`` and the upload screen into a form error: the message
    names the file and the reason."""


class _DatabaseFileReader(io.RawIOBase):
    """Reads an ``ImportFile``'s content a chunk at a time (``substring`` of the bytea)."""

    CHUNK = 1 << 20

    def __init__(self, file_id: int, size: int) -> None:
        self.file_id = file_id
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.position >= self.size:
            return 0
        want = min(len(buffer), self.CHUNK, self.size - self.position)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT substring(content FROM %s FOR %s) FROM import_file WHERE id = %s",
                [self.position + 1, want, self.file_id],
            )
            chunk = bytes(cursor.fetchone()[0])
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


class ImportFiles:
    """The files of one run by name: ``files.open_text("contact.csv")``, ``"patient.csv" in files``."""

    def __init__(self, openers: dict[str, object], sizes: dict[str, int]) -> None:
        self._openers = openers
        self._sizes = sizes

    @classmethod
    def from_folder(cls, folder: str | Path, *, pattern: str = "*") -> ImportFiles:
        folder = Path(folder)
        if not folder.is_dir():
            raise ImportFileError(f"{folder}: not a folder")
        paths = {p.name: p for p in sorted(folder.glob(pattern)) if p.is_file()}
        return cls(
            {name: (lambda p=p: open(p, "rb")) for name, p in paths.items()},
            {n: p.stat().st_size for n, p in paths.items()},
        )

    @classmethod
    def from_paths(cls, paths: list[str | Path]) -> ImportFiles:
        resolved = {Path(p).name: Path(p) for p in paths}
        for path in resolved.values():
            if not path.is_file():
                raise ImportFileError(f"{path}: no such file")
        return cls(
            {n: (lambda p=p: open(p, "rb")) for n, p in resolved.items()},
            {n: p.stat().st_size for n, p in resolved.items()},
        )

    @classmethod
    def from_run(cls, run) -> ImportFiles:
        rows = list(run.files.values_list("id", "name", "size"))
        return cls(
            {
                name: (lambda i=file_id, s=size: io.BufferedReader(_DatabaseFileReader(i, s), 1 << 20))
                for file_id, name, size in rows
            },
            {name: size for _, name, size in rows},
        )

    def __contains__(self, name: str) -> bool:
        return name in self._openers

    @property
    def names(self) -> list[str]:
        return sorted(self._openers)

    def size(self, name: str) -> int:
        return self._sizes[name]

    @property
    def total_size(self) -> int:
        return sum(self._sizes.values())

    def open_binary(self, name: str):
        if name not in self._openers:
            raise ImportFileError(f"{name}: missing")
        return self._openers[name]()

    def open_text(self, name: str) -> io.TextIOWrapper:
        """UTF-8 text (a byte-order mark is dropped; bytes that are not UTF-8 fail with the file's name)."""
        return io.TextIOWrapper(self.open_binary(name), encoding="utf-8-sig", newline="")


def read_csv(files: ImportFiles, name: str, *, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for each data row of a CSV file with a header, in any column order.

    Header names are compared trimmed and lower-cased and the row's keys are those normalised names;
    extra columns are ignored; a missing required column fails before any row is read. Values are
    trimmed strings ('' for an empty cell or a short row). The line number is the file's (header = 1)
    as long as no quoted value spans lines.
    """
    with files.open_text(name) as stream:
        reader = csv.reader(stream)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(f"{name}: empty file (a header row is required)") from None
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        columns = [column.strip().lower() for column in header]
        missing = [column for column in required if column not in columns]
        if missing:
            raise ImportFileError(f"{name}: missing column(s) {', '.join(missing)}")
        line = 1
        width = len(columns)
        strip = str.strip
        try:
            for values in reader:
                line += 1
                values = list(map(strip, values))
                if not any(values):
                    continue
                if len(values) < width:
                    values += [""] * (width - len(values))
                yield line, dict(zip(columns, values, strict=False))  # extra cells are ignored
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{name}: not UTF-8 text after line {line} ({exc.reason})") from None
        except csv.Error as exc:
            raise ImportFileError(f"{name}: line {line + 1}: {exc}") from None


def batched(rows, size: int):
    """Lists of up to ``size`` items from an iterator (itertools.batched arrives with Python 3.12)."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
