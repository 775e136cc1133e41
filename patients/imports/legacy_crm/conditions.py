"""medical_condition.csv -> the one MedicalCondition lookup, and the option-set texts of contact.csv.

The old system had two lists that disagreed: a lookup table (``medical_condition.csv``, by id) and an
option set on the contact (its *text*). Both are reconciled with the one lookup by name or
abbreviation, ignoring case: a known condition is reused, an unknown one is created once. The lookup
is small (a few hundred rows), so it is held in memory; it does not grow with the contacts.
"""

from __future__ import annotations

import uuid

from common.imports.files import ImportFiles, read_csv
from common.imports.report import ImportReport, Outcome
from patients.imports.legacy_crm._staging import SOURCE, fetch, sql

FILE = "medical_condition.csv"
COLUMNS = ["medical conditon id", "name", "abbreviation"]


class Conditions:
    """Lower-cased name and abbreviation -> condition id, plus the old lookup id -> condition id."""

    def __init__(self) -> None:
        self.by_key: dict[str, uuid.UUID] = {}
        self.by_old_id: dict[str, uuid.UUID] = {}
        for pk, name, abbreviation in fetch("SELECT id, name, abbreviation FROM medical_condition"):
            self._know(pk, name, abbreviation)

    def _know(self, pk, name: str, abbreviation: str) -> None:
        self.by_key.setdefault(name.strip().lower(), pk)
        if abbreviation.strip():
            self.by_key.setdefault(abbreviation.strip().lower(), pk)

    def find(self, text: str) -> uuid.UUID | None:
        return self.by_key.get(text.strip().lower()) if text else None

    def create(self, names: list[tuple[str, str]]) -> list[uuid.UUID]:
        """Insert new conditions (name, abbreviation) in one statement; an abbreviation already used by
        another condition is dropped (the name still identifies it)."""
        rows = []
        for name, abbreviation in names:
            if abbreviation and abbreviation.lower() in self.by_key:
                abbreviation = ""
            pk = uuid.uuid4()
            rows.append((pk, name, abbreviation))
            self._know(pk, name, abbreviation)
        if rows:
            sql(
                """
                INSERT INTO medical_condition
                       (id, name, abbreviation, description, is_active, deletion_reason, created_at, updated_at)
                SELECT t.id, t.name, t.abbreviation, 'Imported from the legacy CRM.', true, '', now(), now()
                FROM unnest(%s::uuid[], %s::text[], %s::text[]) AS t(id, name, abbreviation)
                """,
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        return [r[0] for r in rows]


def import_conditions(*, files: ImportFiles, report: ImportReport, run_id, progress) -> Conditions:
    """Reconcile the lookup file with the stored conditions; every row is reported (created, matched to
    a stored condition by name or abbreviation, unchanged when an earlier run mapped it, or skipped)."""
    conditions = Conditions()
    rows = list(read_csv(files, FILE, required=COLUMNS))
    mapped = {
        old_id: uuid.UUID(new_id)
        for old_id, new_id in fetch(
            "SELECT m.old_id, m.new_id FROM import_mapping m JOIN medical_condition c ON c.id = m.new_id::uuid "
            "WHERE m.source = %s AND m.old_table = 'medical_condition' AND m.old_id = ANY(%s)",
            [SOURCE, [row["medical conditon id"] for _, row in rows]],
        )
    }
    outcomes: list[tuple[int, str, str, str, str]] = []
    to_create: list[tuple[str, str]] = []
    pending: dict[str, list[int]] = {}
    for line, row in rows:
        old_id, name, abbreviation = row["medical conditon id"], row["name"], row["abbreviation"]
        if not old_id:
            outcomes.append((line, old_id, Outcome.SKIPPED, "no medical conditon id", ""))
            continue
        if old_id in conditions.by_old_id:
            outcomes.append((line, old_id, Outcome.SKIPPED, "duplicate medical conditon id", ""))
            continue
        if not name:
            outcomes.append((line, old_id, Outcome.SKIPPED, "no name", ""))
            continue
        if len(name) > 200 or len(abbreviation) > 20:
            outcomes.append((line, old_id, Outcome.SKIPPED, "name over 200 or abbreviation over 20 characters", ""))
            continue
        if old_id in mapped:
            conditions.by_old_id[old_id] = mapped[old_id]
            outcomes.append((line, old_id, Outcome.UNCHANGED, "", str(mapped[old_id])))
            continue
        found = conditions.find(name) or conditions.find(abbreviation)
        if found is not None:
            conditions.by_old_id[old_id] = found
            outcomes.append((line, old_id, Outcome.MATCHED, "a condition with this name or abbreviation exists", ""))
            continue
        if name.lower() in pending:
            pending[name.lower()].append(len(outcomes))
            outcomes.append((line, old_id, Outcome.MATCHED, "same name as an earlier row", ""))
            continue
        pending[name.lower()] = [len(outcomes)]
        to_create.append((name, abbreviation))
        outcomes.append((line, old_id, Outcome.CREATED, "", ""))
    created = conditions.create(to_create)
    for (name, _), pk in zip(to_create, created, strict=True):
        for index in pending[name.lower()]:
            line, old_id, outcome, reason, _ = outcomes[index]
            conditions.by_old_id[old_id] = pk
            outcomes[index] = (line, old_id, outcome, reason, str(pk))
    for index, (line, old_id, outcome, reason, new_id) in enumerate(outcomes):
        if outcome == Outcome.MATCHED and not new_id and old_id in conditions.by_old_id:
            outcomes[index] = (line, old_id, outcome, reason, str(conditions.by_old_id[old_id]))
    new_mappings = [
        (old_id, new_id) for _, old_id, outcome, _, new_id in outcomes if outcome in (Outcome.CREATED, Outcome.MATCHED)
    ]
    if new_mappings:
        sql(
            """
            INSERT INTO import_mapping
                   (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
            SELECT %s, 'medical_condition', t.old_id, 'patients.medicalcondition', t.new_id, '{}'::jsonb, %s,
                   now(), now()
            FROM unnest(%s::text[], %s::text[]) AS t(old_id, new_id)
            ON CONFLICT (source, old_table, old_id) DO UPDATE SET new_id = EXCLUDED.new_id, run_id = EXCLUDED.run_id,
                updated_at = now()
            """,
            [SOURCE, run_id, [m[0] for m in new_mappings], [m[1] for m in new_mappings]],
        )
    for line, old_id, outcome, reason, new_id in outcomes:
        report.record(FILE, outcome, row=line, old_id=old_id, reason=reason, new_id=new_id)
    progress(len(outcomes))
    return conditions


def resolve_option_texts(conditions: Conditions) -> None:
    """Texts of the option set that name no known condition become new conditions (the option set was
    the old system's second list of them), and their contacts get them. The contacts whose text names a
    known condition got it while staging; only the few others are read and written here."""
    texts = [
        t
        for (t,) in fetch(
            "SELECT DISTINCT condition_text FROM stg_contact WHERE condition_id IS NULL AND condition_text <> ''"
        )
    ]
    unknown: dict[str, str] = {}
    for text in texts:
        if conditions.find(text) is None:
            unknown.setdefault(text.strip().lower(), text.strip())
    if not unknown:
        return
    conditions.create([(text[:200], "") for text in unknown.values()])
    keys = [(key, conditions.by_key[key]) for key in unknown if key in conditions.by_key]
    sql(
        """
        UPDATE stg_contact c SET condition_id = t.id,
               notes = c.notes || CASE WHEN c.skip IS NULL
                   THEN ARRAY['medical_condition not in the lookup: added to it'] ELSE '{}' END
        FROM unnest(%s::text[], %s::uuid[]) AS t(key, id)
        WHERE c.condition_id IS NULL AND lower(trim(c.condition_text)) = t.key
        """,
        [[k for k, _ in keys], [v for _, v in keys]],
    )
