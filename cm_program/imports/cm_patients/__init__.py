"""``migrate_cm_patients``: the CM document's Phase 2, from CSV exports of the old Supabase tables.

Entry point ``run_import`` (registered in ``common.imports.runner.IMPORTERS``), called inside the
runner's transaction. The order:

1. every file's header is checked (a missing file or column stops the run before anything is written);
2. each file is streamed into a TEMP staging table with ``COPY`` (``staging.py``), bad rows marked;
3. set-based SQL, one audit context per input file (channel ``import`` and the file name): programs,
   CPSS providers, canonical identities with their Persons and CM profiles, IntakeQ mirror rows and
   links (``identities.py``), enrollments under the caseload rule, ledger entries, totals from the
   ledger (``enrollments.py``);
4. the old-id -> new-row mapping (``import_mapping``) for every migrated program, provider, patient and
   enrollment, which makes a second run create nothing (a ledger entry's id is derived from its old id,
   ``staging.ledger_entry_id``: a second run finds it by its primary key);
5. every input row's outcome, streamed from the staging tables into the report in file order.

The number of queries is the same for 10 rows or 1,000,000, and Python holds one row at a time.
"""

from __future__ import annotations

from django.db import connection

from cm_program.imports.cm_patients import enrollments, identities, staging
from cm_program.models import CMProgram
from common.imports.context import import_file_context
from common.imports.files import ImportFileError, ImportFiles
from common.imports.models import ImportKind
from common.imports.report import ImportReport

SOURCE = ImportKind.CM_PATIENTS

# staging table -> (file, old_table of the mapping, target of its new ids)
_OUTPUTS = [
    ("s_program", staging.PROGRAMS, "contingency_management", "cm_program.cmprogram"),
    ("s_provider", staging.PROVIDERS, "providers", "cm_program.cmprovider"),
    ("s_patient", staging.PATIENTS, "patients", None),  # canonical patient, or the IntakeQ mirror row
    ("s_enrollment", staging.ENROLLMENTS, "cm_patients", "cm_program.cmenrollment"),
    ("s_ledger", staging.LEDGER, "cm_points_transactions", "cm_program.cmpointstransaction"),
]


_WRITTEN = {"s_enrollment", "s_patient"}


def _program_for_all(name: str | None, *, run_id, actor) -> tuple[str, bool]:
    """The program of every enrollment when there is no contingency_management.csv: ``--program NAME``
    (created when missing), else the only active program."""
    if name:
        name = name.strip()
        program = CMProgram.objects.filter(name__iexact=name).first()
        if program is not None:
            return str(program.pk), False
        with import_file_context(source=SOURCE, file="--program", run_id=run_id, actor=actor):
            program = CMProgram.objects.create(name=name, description="Migrated from the shared Supabase tables.")
        return str(program.pk), True
    programs = list(CMProgram.objects.filter(is_active=True).order_by("pk")[:2])
    if len(programs) != 1:
        found = "no active program" if not programs else "several active programs"
        raise ImportFileError(
            f"--program: there is {found}; name the program of the old enrollments with --program NAME "
            f"(or give {staging.PROGRAMS})"
        )
    return str(programs[0].pk), False


def _save_mappings(run_id) -> None:
    with connection.cursor() as cursor:
        for table, _, old_table, target in _OUTPUTS:
            if table == "s_ledger":
                continue  # a ledger entry's id is derived from its old id (staging.ledger_entry_id)
            target_sql = (
                "%s"
                if target
                else "CASE WHEN canonical_id IS NOT NULL THEN 'cm_program.canonicalpatient' "
                "ELSE 'cm_program.intakeqpatient' END"
            )
            # What the import wrote, for the tables whose rows a later run may update (enrollments.REFRESHED).
            written = "coalesce(written, written_before, '{}'::jsonb)" if table in _WRITTEN else "'{}'::jsonb"
            params = [old_table] + ([target] if target else []) + [run_id]
            cursor.execute(
                f"""
                INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id,
                                            created_at, updated_at)
                SELECT '{SOURCE}', %s, old_id, {target_sql}, new_id::text, {written}, %s, now(), now()
                FROM {table}
                WHERE new_id IS NOT NULL AND outcome <> 'skipped' AND dup_of IS NULL
                ON CONFLICT (source, old_table, old_id) DO UPDATE
                   SET target = EXCLUDED.target, new_id = EXCLUDED.new_id, written = EXCLUDED.written,
                       run_id = EXCLUDED.run_id, updated_at = now()
                   WHERE import_mapping.new_id <> EXCLUDED.new_id OR import_mapping.written <> EXCLUDED.written
                """,
                params,
            )


def _report_rows(report: ImportReport, present: list[str]) -> None:
    """Every staged row's outcome, in file order, read through a server-side cursor (flat memory). Without
    a CSV report the database counts the rows per outcome and reason, and only the notable rows the report
    keeps are read."""
    raw = connection.connection
    for table, name, _, _ in _OUTPUTS:
        if name not in present:
            continue
        if report.csv_stream is None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT outcome, coalesce(reason, ''), count(*) FROM {table} GROUP BY 1, 2")
                for outcome, reason, rows in cursor.fetchall():
                    report.add_counts(name, outcome, rows, reason=reason)
                if report.notable_room:
                    cursor.execute(
                        f"SELECT line, old_id, outcome, reason, detail, new_id FROM {table} "
                        "WHERE outcome <> 'created' ORDER BY line LIMIT %s",
                        [report.notable_room],
                    )
                    for line, old_id, outcome, reason, detail, new_id in cursor.fetchall():
                        report.add_notable(
                            name,
                            outcome,
                            row=line,
                            old_id=old_id or "",
                            reason=reason or "",
                            detail=detail or "",
                            new_id=str(new_id) if new_id else "",
                        )
            continue
        with raw.cursor(name=f"report_{table}") as cursor:
            cursor.itersize = 5000
            cursor.execute(f"SELECT line, old_id, outcome, reason, detail, new_id FROM {table} ORDER BY line")
            for line, old_id, outcome, reason, detail, new_id in cursor:
                report.record(
                    name,
                    outcome,
                    row=line,
                    old_id=old_id or "",
                    reason=reason or "",
                    detail=detail or "",
                    new_id=str(new_id) if new_id else "",
                )


def run_import(*, files: ImportFiles, options: dict, report: ImportReport, progress, actor, run_id) -> None:
    """Migrate the CM patients of the shared Supabase tables (see the module docstring)."""
    programs_file = staging.PROGRAMS in files
    present = [*staging.REQUIRED_FILES, *([staging.PROGRAMS] if programs_file else [])]
    staging.check_headers(files, present)
    program_id = None
    if not programs_file:
        program_id, created = _program_for_all(options.get("program"), run_id=run_id, actor=actor)
        if created:
            report.note(f"Program {options['program'].strip()!r} did not exist: created with the default schedule.")

    staging.create_staging_tables()
    with connection.cursor() as cursor:
        # Every statement below joins whole staging tables, whose row estimates go stale as the steps fill
        # them in: a nested loop chosen on a stale estimate of 1 row took minutes; hash joins take seconds.
        cursor.execute("SET LOCAL enable_nestloop = off")
        # The import's transaction: its commit need not wait for the WAL flush (a crash loses the whole
        # run, never part of it, and the run is repeatable), and sorts, hashes and index builds of whole
        # staging tables stay in memory.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    try:
        _migrate(
            files=files,
            options=options,
            report=report,
            progress=progress,
            actor=actor,
            run_id=run_id,
            present=present,
            programs_file=programs_file,
            program_id=program_id,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop = on")


def _migrate(*, files, options, report, progress, actor, run_id, present, programs_file, program_id) -> None:
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(done, None)

    order = [staging.PROGRAMS] if programs_file else []
    order += [staging.PROVIDERS, staging.PATIENTS, staging.ENROLLMENTS, staging.LEDGER]
    for name in order:
        staging.stage_file(files, name, on_row=advance)

    def context(name: str):
        return import_file_context(source=SOURCE, file=name, run_id=run_id, actor=actor)

    if programs_file:
        with context(staging.PROGRAMS):
            identities.resolve_programs()
    enrollments.resolve_enrollment_programs(program_id=program_id, programs_file=programs_file)
    with context(staging.PROVIDERS):
        identities.resolve_providers()
    enrollments.resolve_enrollment_providers()
    with context(staging.PATIENTS):
        identities.resolve_patients(actor=actor)
    with context(staging.ENROLLMENTS):
        for note in enrollments.create_enrollments():
            report.note(note)
        enrollments.refresh_enrollments()
    with context(staging.LEDGER):
        enrollments.append_ledger(actor=actor)
        enrollments.settle_totals(actor=actor)
    _save_mappings(run_id)
    _report_rows(report, present)
    progress(done, done)
