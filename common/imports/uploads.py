"""What an upload must be before it is stored and queued: names the importer reads, not empty, within
the size limit, UTF-8 text. Each problem is one message naming the file, so the form shows it instead
of a run that fails later (or a 500)."""

from __future__ import annotations

import codecs
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ValidationError

from common.imports.models import ImportKind

# The files each importer reads (issue 11's contract); IntakeQ takes any number of JSON pages.
EXPECTED_FILES: dict[str, tuple[str, ...]] = {
    ImportKind.LEGACY_CRM: ("contact.csv", "patient.csv", "medical_condition.csv", "eap_dossier.csv"),
    ImportKind.CM_PATIENTS: (
        "patients.csv",
        "providers.csv",
        "cm_patients.csv",
        "cm_points_transactions.csv",
        "contingency_management.csv",
    ),
}
EXPECTED_SUFFIX: dict[str, str] = {ImportKind.INTAKEQ: ".json"}


class UploadedImportFile(Protocol):
    """Django's ``UploadedFile`` as far as an upload is used here."""

    name: str
    size: int

    def chunks(self, chunk_size: int | None = None): ...

    def read(self, size: int = -1) -> bytes: ...

    def seek(self, offset: int, whence: int = 0) -> int: ...


def upload_limit_bytes() -> int:
    return int(settings.IMPORT_UPLOAD_MAX_BYTES)


def _megabytes(size: int) -> str:
    if size < 1 << 20:
        return f"{size / 1024:,.1f} KB"
    return f"{size / (1 << 20):,.1f} MB"


def expected_files_text(kind: str) -> str:
    if kind in EXPECTED_FILES:
        return ", ".join(EXPECTED_FILES[kind])
    return f"one or more {EXPECTED_SUFFIX.get(kind, '')} files"


def _utf8_problem(upload: UploadedImportFile) -> str | None:
    """Where the file stops being UTF-8 (read a chunk at a time), or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    upload.seek(0)
    try:
        for chunk in upload.chunks():
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"not UTF-8 text ({exc.reason} at byte {offset + exc.start:,})"
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return f"not UTF-8 text ({exc.reason} at the end of the file)"
    finally:
        upload.seek(0)
    return None


def check_uploaded_files(*, kind: str, files: list[UploadedImportFile]) -> list[UploadedImportFile]:
    """The files, or a ``ValidationError`` on ``files`` listing every problem (each naming its file)."""
    problems: list[str] = []
    if not files:
        raise ValidationError({"files": f"No file uploaded: choose {expected_files_text(kind)}."})
    limit = upload_limit_bytes()
    total = sum(upload.size or 0 for upload in files)
    if total > limit:
        problems.append(
            f"The files add up to {_megabytes(total)}, more than the {_megabytes(limit)} an upload may hold "
            "(IMPORT_UPLOAD_MAX_MB); run the import command on the server instead (docs/MIGRATION.md)."
        )
    seen: set[str] = set()
    expected = EXPECTED_FILES.get(kind)
    suffix = EXPECTED_SUFFIX.get(kind)
    for upload in files:
        name = upload.name or ""
        if name in seen:
            problems.append(f"{name}: uploaded twice")
            continue
        seen.add(name)
        if expected is not None and name not in expected:
            problems.append(f"{name}: not a file this import reads (expected {', '.join(expected)})")
            continue
        if suffix is not None and not name.lower().endswith(suffix):
            problems.append(f"{name}: not a {suffix} file")
            continue
        if not upload.size:
            problems.append(f"{name}: empty file")
            continue
        if total <= limit:
            problem = _utf8_problem(upload)
            if problem:
                problems.append(f"{name}: {problem}")
    if problems:
        raise ValidationError({"files": problems})
    return files
