"""``import_intakeq``: IntakeQ's clients into the mirror table ``patients``, then matching.

Input: the JSON of IntakeQ's Client API ``GET /clients?includeProfile=true`` — a list of client
objects, one page per file or pages concatenated. Each client is upserted by ``ClientId`` with its raw
object kept (``IntakeQPatient.raw``); archived clients are marked, never deleted. Then the IntakeQ clients
that are not linked yet are graded against the canonical patients (``cm_program.imports.matching``): those
new or changed since the last grading, and all of them against the canonical patients new or changed since.

Rules (issue 11, docs/MIGRATION.md section 3):

- Every client object is accounted for in the report: created, matched (a row typed in before with
  the same client id), updated, unchanged, conflict or skipped with the reason.
- A stored name, date of birth, email or phone is never overwritten with a different value unless
  the import itself wrote it and nobody has edited it since (the mapping table's ``written``): an EMR
  correction flows in, a CM supervisor's correction is kept and the difference is reported.
- Set-based, a batch of ``BATCH`` clients at a time: two reads (rows, mappings) and at most three
  writes (``INSERT ... SELECT FROM unnest``, ``UPDATE ... FROM unnest``, the mappings) per batch.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connection

from cm_program.imports.json_stream import read_json_elements
from cm_program.imports.matching import match_unlinked_clients
from cm_program.services._common import OLDEST_DATE_OF_BIRTH
from common.imports.context import import_file_context
from common.imports.files import ImportFiles, batched
from common.imports.mapping import Mapped, load_mappings, save_mappings
from common.imports.report import ImportReport, Outcome
from common.validation import control_character_problem
from people.normalize import clean_email

SOURCE = "intakeq"
OLD_TABLE = "clients"
TARGET = "cm_program.intakeqpatient"
BATCH = 5_000
# The mirrored columns: a stored value is never replaced by a different one the import did not write.
IDENTITY_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone")
LABELS = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "date_of_birth": "DateOfBirth",
    "email": "Email",
    "phone": "Phone",
}


class BadClient(Exception):
    """A client object that cannot be imported; the message is the report's reason."""


@dataclass
class Client:
    line: int
    client_id: str
    values: dict[str, Any]  # IDENTITY_FIELDS, as stored (date_of_birth an ISO string or None)
    archived: bool
    raw: dict
    problems: list[str] = field(default_factory=list)  # imported anyway: reported as a conflict


def run_import(*, files: ImportFiles, options: dict, report: ImportReport, progress, actor, run_id) -> None:
    """Upsert the clients of every file (in name order), then match the unlinked ones (``options["match"]``,
    on unless false): those new or changed since the last grading, or all of them (``options["rematch_all"]``)."""
    done = 0
    for name in files.names:
        with import_file_context(source=SOURCE, file=name, run_id=run_id, actor=actor):
            for batch in batched(read_json_elements(files, name), BATCH):
                _import_batch(name, batch, report=report, run_id=run_id)
                done += len(batch)
                progress(done, None)
    if options.get("match", True):
        with import_file_context(source=SOURCE, file="(matching)", run_id=run_id, actor=actor):
            match_unlinked_clients(report=report, full=bool(options.get("rematch_all")))


# --- one client object -> a Client, or the reason it cannot be imported --------------------------------------


def parse_client(line: int, obj: object) -> Client:
    if not isinstance(obj, dict):
        raise BadClient(f"not a client object (a JSON {type(obj).__name__})")
    client_id = obj.get("ClientId")
    if client_id is None or isinstance(client_id, (dict, list, bool)) or not str(client_id).strip():
        raise BadClient("ClientId missing")
    client_id = str(client_id).strip()
    problems: list[str] = []
    values = {
        "first_name": _name(obj, "FirstName"),
        "last_name": _name(obj, "LastName"),
        "date_of_birth": _date_of_birth(obj.get("DateOfBirth")),
        "email": _email(obj.get("Email"), problems),
        "phone": _phone(obj),
    }
    archived = obj.get("Archived")
    archived = archived is True or (isinstance(archived, str) and archived.strip().lower() in ("true", "1", "yes"))
    return Client(line, client_id, values, archived, obj, problems)


def _text(value: object, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise BadClient(f"{label} is not text")
    text = str(value).strip()
    problem = control_character_problem(text, multiline=False)
    if problem:
        raise BadClient(f"{label}: {problem}")
    return text


def _name(obj: dict, label: str) -> str:
    text = _text(obj.get(label), label)
    if not text:
        raise BadClient(f"{label} missing")
    return text


def _date_of_birth(value: object) -> str | None:
    """Unix milliseconds read as a UTC date (IntakeQ's format), or an ISO date (``1980-05-02``, with or
    without a time after it)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            date = dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC).date()
        elif isinstance(value, str):
            date = dt.date.fromisoformat(value.strip()[:10])
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise BadClient(f"DateOfBirth {value!r} is not a date (Unix milliseconds or YYYY-MM-DD)") from None
    if date > dt.date.today():
        raise BadClient(f"DateOfBirth {date:%Y-%m-%d} is in the future")
    if date < OLDEST_DATE_OF_BIRTH:
        raise BadClient(f"DateOfBirth {date:%Y-%m-%d} is before {OLDEST_DATE_OF_BIRTH:%Y}")
    return date.isoformat()


def _email(value: object, problems: list[str]) -> str | None:
    text = _text(value, "Email")
    if not text:
        return None
    try:
        return clean_email(text, field="Email")
    except ValidationError:
        problems.append(f"Email {text!r} is not a valid address: not stored")
        return None


def _phone(obj: dict) -> str | None:
    # The EMR's number as it writes it (the matching compares digits); the main number first.
    for label in ("Phone", "MobilePhone", "HomePhone"):
        text = _text(obj.get(label), label)
        if text:
            return text
    return None


# --- one batch ------------------------------------------------------------------------------------------------


def _import_batch(name: str, batch: list[tuple[int, object]], *, report: ImportReport, run_id: int | None) -> None:
    clients: dict[str, Client] = {}
    for line, obj in batch:
        try:
            client = parse_client(line, obj)
        except BadClient as exc:
            old_id = str(obj.get("ClientId") or "") if isinstance(obj, dict) else ""
            report.record(name, Outcome.SKIPPED, row=line, old_id=old_id, reason=str(exc))
            continue
        earlier = clients.get(client.client_id)
        if earlier is not None:
            report.record(
                name,
                Outcome.SKIPPED,
                row=earlier.line,
                old_id=earlier.client_id,
                reason=f"ClientId repeated on line {line}: the later object is imported",
            )
        clients[client.client_id] = client
    if not clients:
        return
    stored = _stored_rows(list(clients))
    mappings = load_mappings(SOURCE, OLD_TABLE, clients)

    inserts: list[Client] = []
    updates: list[tuple[str, Client, dict[str, Any], bool]] = []  # (id, client, final values, identity changed)
    outcomes: list[tuple[Client, str, str]] = []  # (client, outcome, reason) of existing rows
    written: dict[str, dict] = {}
    for client_id, client in clients.items():
        row = stored.get(client_id)
        if row is None:
            inserts.append(client)
            continue
        final, outcome, reasons, identity_changed, kept = _merge(row, client, mappings.get(client_id))
        raw_changed = row["raw"] != client.raw
        if identity_changed or raw_changed or row["archived"] != client.archived:
            updates.append((row["id"], client, final, identity_changed or row["archived"] != client.archived))
            if outcome == Outcome.UNCHANGED:
                outcome = Outcome.UPDATED
        # What the import wrote: the values stored now, except those kept against the EMR's (for them,
        # what an earlier run wrote, if it did), so that a later run still finds them edited by someone.
        previous = mappings[client_id].written if client_id in mappings else {}
        written[client_id] = {f: final[f] for f in IDENTITY_FIELDS if f not in kept}
        written[client_id].update({f: previous[f] for f in kept if f in previous})
        outcomes.append((client, outcome, "; ".join(client.problems + reasons)))

    created_ids = _insert(inserts)
    _update(updates)
    for client in inserts:
        written[client.client_id] = dict(client.values)
        stored[client.client_id] = {"id": created_ids[client.client_id]}
    save_mappings(
        SOURCE,
        OLD_TABLE,
        [(client_id, TARGET, stored[client_id]["id"], written[client_id]) for client_id in clients],
        run_id=run_id,
    )
    for client in inserts:
        outcome = Outcome.CONFLICT if client.problems else Outcome.CREATED
        report.record(
            name,
            outcome,
            row=client.line,
            old_id=client.client_id,
            reason="; ".join(client.problems),
            new_id=created_ids[client.client_id],
        )
    for client, outcome, reason in outcomes:
        if client.problems and outcome != Outcome.CONFLICT:
            outcome = Outcome.CONFLICT
        report.record(
            name,
            outcome,
            row=client.line,
            old_id=client.client_id,
            reason=reason,
            new_id=stored[client.client_id]["id"],
        )


def _merge(row: dict, client: Client, mapped: Mapped | None) -> tuple[dict, str, list[str], bool, set[str]]:
    """The values to store for an existing row, its outcome, the differences kept, whether a mirrored
    column changes, and the fields whose stored value was kept against the EMR's."""
    final: dict[str, Any] = {}
    reasons: list[str] = []
    kept: set[str] = set()
    changed = False
    for name in IDENTITY_FIELDS:
        old, new = row[name], client.values[name]
        if old == new:
            final[name] = old
        elif old in (None, "") or (mapped is not None and mapped.written.get(name, _MISSING) == old):
            # Empty, or still what an earlier import wrote: the EMR's current value replaces it.
            final[name] = new
            changed = True
        else:
            final[name] = old
            kept.add(name)
            reasons.append(f"{LABELS[name]} differs: kept {old!r}, IntakeQ has {new!r}")
    if kept:
        outcome = Outcome.CONFLICT
    elif changed:
        outcome = Outcome.UPDATED
    elif mapped is None:
        outcome = Outcome.MATCHED
    else:
        outcome = Outcome.UNCHANGED
    return final, outcome, reasons, changed, kept


_MISSING = object()


def _stored_rows(client_ids: list[str]) -> dict[str, dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text, intakeq_client_id, first_name, last_name, date_of_birth::text, email, phone, "
            "archived, raw FROM patients WHERE intakeq_client_id = ANY(%s)",
            [client_ids],
        )
        rows = {}
        for pk, client_id, first, last, dob, email, phone, archived, raw in cursor.fetchall():
            if isinstance(raw, str):
                raw = json.loads(raw)
            rows[client_id] = {
                "id": pk,
                "first_name": first,
                "last_name": last,
                "date_of_birth": dob,
                "email": email,
                "phone": phone,
                "archived": archived,
                "raw": raw,
            }
        return rows


def _rows(clients: list[Client], values: list[dict] | None = None) -> str:
    """The batch as one JSON document for ``jsonb_to_recordset``: psycopg quotes a text[] element by element
    in Python (~0.5 ms per client with its raw object), a single string in C."""
    values = values if values is not None else [c.values for c in clients]
    rows = [
        {"client_id": c.client_id, **v, "archived": c.archived, "raw": c.raw}
        for c, v in zip(clients, values, strict=True)
    ]
    try:
        return orjson.dumps(rows).decode()  # ~10x the standard library's speed
    except orjson.JSONEncodeError:  # what orjson refuses (an integer beyond 64 bits, ...): the slow way
        return json.dumps(rows, ensure_ascii=False)


_RECORD = (
    "client_id text, first_name text, last_name text, date_of_birth date, email text, phone text, "
    "archived boolean, raw jsonb"
)


def _insert(clients: list[Client]) -> dict[str, str]:
    """New mirror rows (one statement); returns client id -> new row id."""
    if not clients:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO patients (id, intakeq_client_id, first_name, last_name, date_of_birth, email, phone,
                                  archived, raw, created_at, updated_at)
            SELECT gen_random_uuid(), t.client_id, t.first_name, t.last_name, t.date_of_birth, t.email, t.phone,
                   t.archived, t.raw, now(), now()
              FROM jsonb_to_recordset(%s::jsonb) AS t({_RECORD})
            RETURNING intakeq_client_id, id::text
            """,
            [_rows(clients)],
        )
        return dict(cursor.fetchall())


def _update(updates: list[tuple[str, Client, dict[str, Any], bool]]) -> None:
    """Existing mirror rows get their final values and the new raw object (one statement). ``updated_at``
    moves only when a mirrored column changed (a new ``LastActivityDate`` alone is no edit)."""
    if not updates:
        return
    clients = [client for _, client, _, _ in updates]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE patients AS p
               SET first_name = t.first_name, last_name = t.last_name, date_of_birth = t.date_of_birth,
                   email = t.email, phone = t.phone, archived = t.archived, raw = t.raw,
                   updated_at = CASE WHEN u.touch THEN now() ELSE p.updated_at END
              FROM jsonb_to_recordset(%s::jsonb) AS t({_RECORD})
              JOIN unnest(%s::uuid[], %s::text[], %s::boolean[]) AS u(id, client_id, touch) USING (client_id)
             WHERE p.id = u.id
            """,
            [
                _rows(clients, [final for _, _, final, _ in updates]),
                [pk for pk, _, _, _ in updates],
                [client.client_id for client in clients],
                [touch for _, _, _, touch in updates],
            ],
        )
