"""``--bulk-load``: the first migration into a (nearly) empty CRM, the way ``pg_restore`` loads a dump.

Inserting 100,000 Persons maintains each of their fifteen secondary indexes row by row (four of them
trigram GIN indexes over ``crm_unaccent``), and every inserted row queues about ten deferred
foreign-key checks that run one by one at ``COMMIT``. In bulk-load mode, inside the import's one
transaction:

1. the secondary indexes of the tables the import fills (and of their audit-event tables) are dropped —
   never a unique index or a constraint's index (the primary keys, one Person per email, one patient per
   Person, one open lead per Person, the roles' no-overlap exclusion constraint keep checking every row);
2. the foreign keys between those tables, and to the lookups they name (conditions, contact types,
   hospitals), are dropped; the rows are inserted;
3. the indexes are built again, each in one sorted pass with a large ``maintenance_work_mem``, and the
   foreign keys are added again: ``ADD CONSTRAINT ... NOT VALID`` then ``VALIDATE CONSTRAINT``, which
   checks every row in one join instead of one probe per row.

It all happens in the import's transaction: an error or a dry run rolls the indexes and constraints
back with the rows. The price: ``DROP INDEX`` / ``ALTER TABLE`` hold an ``ACCESS EXCLUSIVE`` lock on
those tables until the import commits, so nobody can read persons, patients, leads, physicians, calls or
journeys meanwhile. That is right for a first migration before go-live, wrong for a system in use:
the mode is refused when the tables already hold more rows than the files bring (rebuilding indexes
over more stored rows than the import adds costs more than it saves, and such a system is in use),
unless forced. Foreign keys to the users and the import runs are left alone (checked per row at the
end): dropping one would lock that table too, and every login reads the users.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from common.imports.files import ImportFileError
from patients.imports.legacy_crm._staging import fetch, sql

# The tables the import fills in bulk, and the audit-event tables their triggers fill.
TABLES = (
    "person",
    "people_personevent",
    "person_contact_type",
    "people_personcontacttypeevent",
    "patient",
    "patients_patientevent",
    "patient_lead",
    "patients_patientleadevent",
    "physician",
    "patients_physicianevent",
    "call_history",
    "patients_callhistoryevent",
    "clinical_trial_journey",
    "journeys_clinicaltrialjourneyevent",
    "journey_status_change",
    "journeys_journeystatuschangeevent",
    "eap_journey",
    "journeys_eapjourneyevent",
    "import_mapping",
)
# Lookups the filled tables point at: locked too, so that the foreign keys to them are dropped and
# validated set-wise as well (their own indexes stay: they are small).
LOOKUPS = ("medical_condition", "contact_type", "hospital")
# The tables whose stored rows are compared with the import's size.
SIZED = ("person", "patient", "patient_lead", "physician", "call_history", "clinical_trial_journey")
MAINTENANCE_WORK_MEM = "512MB"


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    definition: str


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    definition: str


def check_size(input_rows: int, *, force: bool) -> None:
    """Refuse bulk-load mode where the CRM already holds more rows than the import brings (unless forced)."""
    if force:
        return
    # Exact, and bounded: at most one row more than the files are read per table (pg_class.reltuples is an
    # estimate that can be far off, e.g. after rows were deleted and before autovacuum saw it).
    for table in SIZED:
        rows = fetch(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS bounded", [input_rows + 1])[0][0]
        if rows > input_rows:
            rows = fetch(f"SELECT count(*) FROM {table}")[0][0]  # the whole figure for the message
            raise ImportFileError(
                f"--bulk-load: the table {table} already holds {rows:,} rows, more than the {input_rows:,} rows "
                "of the files. Bulk-load mode locks the CRM's tables for the whole import and rebuilds their "
                "indexes: it is meant for the first migration into an (almost) empty system. Run without "
                "--bulk-load, or add --force-bulk-load if nobody uses the system during the import."
            )


def _indexes() -> list[Index]:
    """The secondary indexes of ``TABLES``: not unique, not a constraint's (primary key, exclusion)."""
    return [
        Index(*row)
        for row in fetch(
            """
            SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid)
            FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
            WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace
              AND NOT x.indisunique AND NOT x.indisprimary AND NOT x.indisexclusion
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            ORDER BY t.relname, i.relname
            """,
            [list(TABLES)],
        )
    ]


def _foreign_keys() -> list[ForeignKey]:
    """The foreign keys from ``TABLES`` to ``TABLES`` or ``LOOKUPS`` (both ends locked by the import)."""
    return [
        ForeignKey(*row)
        for row in fetch(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
              AND c.confrelid::regclass::text = ANY(%s)
            ORDER BY 1, 2
            """,
            [list(TABLES), list(TABLES + LOOKUPS)],
        )
    ]


def _flush_deferred_checks() -> None:
    """Run the deferred constraint checks queued so far: PostgreSQL refuses ``ALTER TABLE`` / ``DROP INDEX``
    on a table with pending trigger events (rows written earlier in the same transaction)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql("SET CONSTRAINTS ALL DEFERRED")


@contextlib.contextmanager
def bulk_load(*, enabled: bool, timings: dict | None = None) -> Iterator[None]:
    """Drop the secondary indexes and inner foreign keys of ``TABLES``, run the body, rebuild them."""
    if not enabled:
        yield
        return
    timings = timings if timings is not None else {}
    start = time.perf_counter()
    _flush_deferred_checks()
    # One lock statement, in a fixed order, before any DDL: no lock upgrade half-way through.
    sql(f"LOCK TABLE {', '.join(TABLES + LOOKUPS)} IN ACCESS EXCLUSIVE MODE")
    indexes, keys = _indexes(), _foreign_keys()
    for key in keys:
        sql(f'ALTER TABLE {key.table} DROP CONSTRAINT "{key.name}"')
    for index in indexes:
        sql(f'DROP INDEX "{index.name}"')
    timings["bulk-load: drop"] = time.perf_counter() - start
    yield
    start = time.perf_counter()
    _flush_deferred_checks()
    sql(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    for index in indexes:
        sql(index.definition)
    timings["bulk-load: indexes"] = time.perf_counter() - start
    start = time.perf_counter()
    for key in keys:
        sql(f'ALTER TABLE {key.table} ADD CONSTRAINT "{key.name}" {key.definition} NOT VALID')
        sql(f'ALTER TABLE {key.table} VALIDATE CONSTRAINT "{key.name}"')
    timings["bulk-load: foreign keys"] = time.perf_counter() - start
