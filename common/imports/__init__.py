"""What every importer shares: the run and its uploaded files, the old-id -> new-row mapping, the
per-row report, streamed input files, and the audit context of the rows it writes.

An importer (``patients.imports.legacy_crm``, ``cm_program.imports.intakeq``,
``cm_program.imports.cm_patients``) is one function registered in ``common.imports.registry``:

    def run_import(*, files: ImportFiles, options: dict, report: ImportReport,
                   progress: ProgressCallback, actor: User | None) -> None

called inside a transaction by ``common.imports.runner.execute`` (the management command and the task
queue's job both go through it), which rolls back for a dry run. Rows are written in sets (``COPY``
into staging tables, ``INSERT ... SELECT``), never one ORM save per row; every written row appears in
the audit trail with channel ``import`` and the file it came from (``import_file_context``).
"""
