"""``import_legacy_crm``: the legacy CRM's CSV exports (design document 000) into the new model.

Entry point ``run_import`` (registered in ``common.imports.runner.IMPORTERS``), called in one
transaction by ``common.imports.runner.execute``. The files are streamed into TEMP staging tables
(``COPY`` per batch of 5,000 rows, cells checked in Python on the way), then every rule is set-based
SQL over them, file by file:

* ``conditions.py`` — the condition lookup and the contacts' option-set texts, reconciled;
* ``contacts.py`` / ``patients.py`` / ``eap.py`` — staging of each file;
* ``persons.py`` — one Person per human across both files (mapping, stored email, else new);
* ``patients.py`` — Patients; ``calls.py`` — bookings -> calls; ``leads.py`` — leads (converted when
  a patient row points at them); ``physicians.py`` — physicians and hospitals;
* ``journeys.py`` — CT journeys; ``eap.py`` — EAP journeys.

Each staging row ends with its outcome (``_staging.py``), read back into the report in line order.
Memory stays flat: Python holds one batch at a time (plus the condition lookup, which is small).
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.db import DatabaseError, transaction

from common.imports.context import import_file_context
from common.imports.files import ImportFileError, ImportFiles, read_csv
from common.imports.report import ImportReport
from patients.imports.legacy_crm import calls as calls_file
from patients.imports.legacy_crm import conditions as conditions_file
from patients.imports.legacy_crm import contacts as contacts_file
from patients.imports.legacy_crm import eap as eap_file
from patients.imports.legacy_crm import journeys as journeys_file
from patients.imports.legacy_crm import leads as leads_file
from patients.imports.legacy_crm import patients as patients_file
from patients.imports.legacy_crm import physicians as physicians_file
from patients.imports.legacy_crm._staging import SOURCE, emit_report, fetch, save_mappings, sql, written_object
from patients.imports.legacy_crm.bulk_load import bulk_load, check_size
from patients.imports.legacy_crm.persons import link_rows, resolve_persons, write_persons
from people.models import ContactType, Person, PersonContactType, User
from people.normalize import normalize_email

REQUIRED_FILES = {
    conditions_file.FILE: conditions_file.COLUMNS,
    contacts_file.FILE: contacts_file.COLUMNS,
    patients_file.FILE: patients_file.COLUMNS,
}
OPTIONAL_FILES = {eap_file.FILE: eap_file.COLUMNS}


@dataclass(frozen=True)
class Settings:
    navigator_id: str | None
    region: str
    scope_user: User | None
    actor_id: str | None
    bulk_load: bool
    force_bulk_load: bool


def check_options(options: dict, actor) -> None:
    """Refuse bad options before a run is queued (the upload screen): the same checks as the run's own,
    raising ``ImportFileError`` with the option and the reason."""
    _settings(options, actor)


def _settings(options: dict, actor) -> Settings:
    """The options, checked: bad ones stop the run before anything is read or written."""
    region = (options.get("phone_region") or getattr(settings, "PHONE_DEFAULT_REGION", "US")).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ImportFileError(f"--phone-region {region}: not a region code (e.g. US, NL, GB)")
    navigator_id = None
    if options.get("navigator"):
        email = normalize_email(options["navigator"])
        person = Person.objects.filter(email=email).first()
        if person is None:
            raise ImportFileError(f"--navigator {options['navigator']}: no person has this email")
        holds = PersonContactType.objects.filter(person=person, contact_type__code=ContactType.PATIENT_NAVIGATOR)
        if not holds.current().exists():
            raise ImportFileError(f"--navigator {options['navigator']}: {person} is not a patient navigator")
        navigator_id = str(person.pk)
    scope_user = actor
    if options.get("as"):
        scope_user = User.objects.filter(username=options["as"], is_active=True).first()
        if scope_user is None:
            raise ImportFileError(f"--as {options['as']}: no active user with this username")
    return Settings(
        navigator_id=navigator_id,
        region=region,
        scope_user=scope_user,
        actor_id=str(actor.pk) if actor is not None and actor.pk else None,
        bulk_load=bool(options.get("bulk_load") or options.get("force_bulk_load")),
        force_bulk_load=bool(options.get("force_bulk_load")),
    )


def check_files(files: ImportFiles) -> None:
    """Every required file is there with every required column, before anything is written."""
    for name, columns in {**REQUIRED_FILES, **OPTIONAL_FILES}.items():
        if name not in files:
            if name in REQUIRED_FILES:
                raise ImportFileError(f"{name}: missing (the folder needs {', '.join(REQUIRED_FILES)})")
            continue
        rows = read_csv(files, name, required=columns)
        try:
            next(rows, None)
        finally:
            rows.close()


def _session_memory() -> None:
    """Room for the staging tables and their sorts: TEMP tables live in ``temp_buffers`` (8 MB by default,
    so 100,000 staged contacts spill to disk at every statement). ``temp_buffers`` can only change before
    the session's first TEMP table: a session that already used one keeps its value (savepoint). 512 MB:
    the staging tables leave room on their pages for their updates (``_staging.FILL_FACTOR``), ~350 MB for
    100,000 contacts + 60,000 patients (a ceiling: the server allocates the buffers as the tables grow, and
    frees them when the session ends).

    ``synchronous_commit`` off: the import is one transaction, and its COMMIT need not wait for the WAL
    flush (a crash in that instant loses the whole import, never part of it; it is simply run again).
    A larger ``gin_pending_list_limit`` for the Persons' trigram indexes was measured and did not help
    (16.6 s against 16.8 s for 100,000 Persons), so the server's setting stays."""
    sql("SET LOCAL work_mem = '64MB'")
    sql("SET LOCAL synchronous_commit = off")
    try:
        with transaction.atomic():
            sql("SET LOCAL temp_buffers = '512MB'")
    except DatabaseError:
        pass


def run_import(*, files: ImportFiles, options: dict, report: ImportReport, progress, actor, run_id) -> None:
    config = _settings(options, actor)
    check_files(files)
    _session_memory()
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        progress(done, None)

    with import_file_context(source=SOURCE, file=conditions_file.FILE, run_id=run_id, actor=actor):
        conditions = conditions_file.import_conditions(files=files, report=report, run_id=run_id, progress=advance)
    contacts_file.stage_contacts(files=files, region=config.region, conditions=conditions, progress=advance)
    with import_file_context(source=SOURCE, file=contacts_file.FILE, run_id=run_id, actor=actor):
        conditions_file.resolve_option_texts(conditions)
    patients_file.stage_patients(files=files, conditions=conditions, progress=advance)
    eap_file.stage_eap(files=files, progress=advance)

    resolve_persons(scope_user=config.scope_user)
    if config.bulk_load:
        check_size(done, force=config.force_bulk_load)
    with bulk_load(enabled=config.bulk_load):
        for src in (contacts_file.FILE, patients_file.FILE):
            write_persons(src=src, run_id=run_id)
        # Fresh statistics: the statements that follow join on the rows just inserted (a table analysed while
        # nearly empty would be scanned once per row). Named columns only: a plain ANALYZE also samples every
        # index expression (the trigram and unaccent indexes), which costs more than the rest of it.
        sql("ANALYZE person (id, email)")
        link_rows()
        with import_file_context(source=SOURCE, file=patients_file.FILE, run_id=run_id, actor=actor):
            patients_file.write_patients(run_id=run_id, navigator_id=config.navigator_id)
        calls_file.write_calls(navigator_id=config.navigator_id, actor_id=config.actor_id, run_id=run_id)
        leads_file.write_leads(run_id=run_id)
        physicians_file.write_physicians(run_id=run_id)
        journeys_file.write_journeys(actor_id=config.actor_id, run_id=run_id)
        eap_file.write_eap(actor_id=config.actor_id, run_id=run_id)
        _save_mappings(run_id)
    # After the calls' indexes are back (bulk-load mode): it reads each patient's latest call by index. The
    # Patients this run made got their follow-up in their INSERT (patients.write_patients).
    calls_file.refresh_follow_ups(run_id)

    for name, table in (
        (contacts_file.FILE, "stg_contact"),
        (patients_file.FILE, "stg_patient"),
        (eap_file.FILE, "stg_eap"),
    ):
        emit_report(report, file=name, table=table, progress=advance)
    if not config.navigator_id:
        report.note("No --navigator given: bookings of contacts who are patients were not imported as calls.")
    for table in ("stg_contact", "stg_patient", "stg_eap", "stg_person", "stg_lead", "stg_physician"):
        sql(f"DROP TABLE IF EXISTS {table}")


def _save_mappings(run_id) -> None:
    """old id -> new row for every row imported or matched (a second run finds them all here).

    When ``import_mapping`` holds no mapping of this source yet but the conditions' (written earlier in this
    run), none of the rows below can conflict with a stored one, nor with each other (one row per old id and
    old table), so they are plain ``INSERT``s: ``ON CONFLICT`` costs a speculative insertion per row (150,000
    mapping rows: 4.6 s / 2.9 s with it, 2.0 s / 1.9 s without, load ~5). No other run can add one
    meanwhile: ``common.imports.runner.execute`` holds this importer's advisory lock for the whole run (and
    bulk-load mode the table itself)."""
    fresh = not fetch(
        "SELECT 1 FROM import_mapping WHERE source = %s AND old_table <> 'medical_condition' LIMIT 1", [SOURCE]
    )
    do_nothing = "" if fresh else "ON CONFLICT (source, old_table, old_id) DO NOTHING"
    save_mappings(
        table="stg_contact",
        old_table="contact",
        target="people.person",
        where="NOT s.mapped",
        run_id=run_id,
        fresh=fresh,
    )
    for old_table, target, kind, fields in (
        ("contact.lead", "patients.patientlead", "lead", leads_file.UPDATABLE),
        ("contact.physician", "patients.physician", "physician", physicians_file.UPDATABLE),
    ):
        _save_role_mappings(old_table, target, kind, fields, run_id, do_nothing)
    _save_call_mappings(run_id, do_nothing)
    save_mappings(
        table="stg_patient",
        old_table="patient",
        target="patients.patient",
        where="NOT s.mapped",
        written=f"CASE WHEN s.patient_new THEN {written_object(patients_file.UPDATABLE)} ELSE '{{}}'::jsonb END",
        run_id=run_id,
        fresh=fresh,
    )
    sql(
        f"""
        INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
        SELECT %s, 'patient.ct_journey', s.old_id, 'journeys.clinicaltrialjourney', s.journey_id::text,
               {written_object(journeys_file.UPDATABLE)}, %s, now(), now()
        FROM stg_patient s WHERE s.journey_new
        {do_nothing}
        """,
        [SOURCE, run_id],
    )
    save_mappings(
        table="stg_eap",
        old_table="eap_dossier",
        target="journeys.eapjourney",
        where="NOT s.mapped",
        written=f"CASE WHEN s.created THEN {written_object(eap_file.UPDATABLE)} ELSE '{{}}'::jsonb END",
        run_id=run_id,
        fresh=fresh,
    )


def _save_role_mappings(
    old_table: str, target: str, kind: str, fields: dict[str, str], run_id, do_nothing: str
) -> None:
    """The lead's or physician's mapping of each of its contact rows; the row that made it also keeps
    what it wrote (a later run may update those fields)."""
    sql(
        f"""
        INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
        SELECT %s, %s, s.old_id, %s, s.role_id::text,
               CASE WHEN s.role_new THEN {written_object(fields)} ELSE '{{}}'::jsonb END, %s, now(), now()
        FROM stg_contact s WHERE s.kind = %s AND s.role_id IS NOT NULL AND s.skip IS NULL
        {do_nothing}
        """,
        [SOURCE, old_table, target, run_id, kind],
    )


def _save_call_mappings(run_id, do_nothing: str) -> None:
    sql(
        f"""
        INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
        SELECT %s, 'contact.call', s.old_id, 'patients.callhistory', s.call_id::text,
               {written_object(calls_file.UPDATABLE)}, %s, now(), now()
        FROM stg_contact s WHERE s.call_new
        {do_nothing}
        """,
        [SOURCE, run_id],
    )
