"""Programs, CPSS providers and patients of ``migrate_cm_patients``, set-based over the staging tables.

The rules are the services' (``cm_program.services``), applied to sets of rows:

* a program is matched by name ignoring case and surrounding spaces, and created when missing;
* a provider is matched by the mapping of an earlier run, by its old id kept as ``canonical_provider_id``,
  or by email (``providers_cm.email`` is unique), and created otherwise; only providers that are the CPSS
  of an old enrollment are migrated (the shared ``providers`` table also holds psychiatrists);
* a patient gets its canonical identity by the identity rule of ``canonical_patient_find_or_create``:
  one row per first name + last name + date of birth compared trimmed, without accents and in lower
  case; its Person is found by email, else by an unambiguous name + date-of-birth match among the
  Persons the operator may see, else created; a Person's stored values are never overwritten (empty
  ones are filled, differences are reported); an email that belongs to another canonical patient, to a
  deleted Person or to someone the operator may not see is refused for that row;
* then its CM profile (``patients_cm``), and for a shared row that is an IntakeQ client its mirror row
  (``patients``) when missing and its link (confidence 1.00, note "migrated").

Each step is one statement over every staged row; the audit triggers fire per statement.
"""

from __future__ import annotations

from django.db import connection

from people.models import Person
from people.selectors import persons_visible_to

# The unique index's expression (cm_program.models.normalised_name), on a column of the given alias.
KEY = "lower(crm_unaccent(trim({0}.first_name))), lower(crm_unaccent(trim({0}.last_name)))"


def _run(statements: list[str | tuple[str, list]]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, [])
            cursor.execute(sql, params)


def _mark_duplicates(table: str) -> str:
    """The second and later rows of the same old id point at the first (``dup_of``)."""
    return f"""
        UPDATE {table} s SET dup_of = d.first_line
        FROM (SELECT line, min(line) OVER (PARTITION BY old_id) AS first_line FROM {table}
              WHERE problem IS NULL) d
        WHERE s.line = d.line AND d.first_line <> s.line
    """


def _mapped(
    table: str, old_table: str, column: str, target_table: str, *, where: str = "s.problem IS NULL AND s.dup_of IS NULL"
) -> list[str]:
    """Rows an earlier run imported: their row is taken from the mapping, if it still exists.

    The mapping is joined on its unique (source, old_table, old_id) index; its text ``new_id`` is cast
    only for the rows found (a join on ``id::text`` would defeat every index)."""
    return [
        f"""
        UPDATE {table} s SET {column} = m.new_id::uuid, mapped = true
        FROM import_mapping m
        WHERE m.source = 'cm_patients' AND m.old_table = '{old_table}' AND m.old_id = s.old_id AND {where}
        """,
        f"""
        UPDATE {table} s SET {column} = NULL, mapped = false
        WHERE s.mapped AND NOT EXISTS (SELECT 1 FROM {target_table} t WHERE t.id = s.{column})
        """,
    ]


# --- programs ------------------------------------------------------------------------------------------


def resolve_programs() -> None:
    """Match each staged program by name (ignoring case and surrounding spaces), create the missing."""
    _run(
        [
            _mark_duplicates("s_program"),
            """
            UPDATE s_program s SET program_id = p.id FROM contingency_management p
            WHERE lower(trim(p.name)) = lower(trim(s.name)) AND s.problem IS NULL AND s.dup_of IS NULL
            """,
            """
            WITH ins AS (
                INSERT INTO contingency_management (name, description)
                SELECT DISTINCT ON (lower(trim(name))) trim(name), 'Migrated from the shared Supabase tables.'
                FROM s_program WHERE problem IS NULL AND dup_of IS NULL AND program_id IS NULL
                ORDER BY lower(trim(name)), line
                RETURNING id, name
            )
            UPDATE s_program s SET program_id = ins.id, created = true
            FROM ins WHERE lower(trim(ins.name)) = lower(trim(s.name)) AND s.problem IS NULL AND s.dup_of IS NULL
            """,
            """
            UPDATE s_program s SET outcome = 'unchanged' FROM import_mapping m
            WHERE m.source = 'cm_patients' AND m.old_table = 'contingency_management' AND m.old_id = s.old_id
              AND m.new_id::uuid = s.program_id AND NOT s.created AND s.dup_of IS NULL
            """,
            """
            UPDATE s_program SET
                outcome = CASE WHEN problem IS NOT NULL OR dup_of IS NOT NULL THEN 'skipped'
                               WHEN outcome = 'unchanged' THEN outcome
                               WHEN created THEN 'created' ELSE 'matched' END,
                reason = CASE WHEN problem IS NOT NULL THEN problem
                              WHEN dup_of IS NOT NULL THEN 'duplicate id: not migrated again'
                              WHEN NOT created AND outcome IS NULL THEN 'an existing program of that name' END,
                detail = CASE WHEN dup_of IS NOT NULL THEN 'first on line ' || dup_of ELSE detail END,
                new_id = program_id
            """,
        ]
    )


# --- providers -----------------------------------------------------------------------------------------


def resolve_providers() -> None:
    """The CPSS of the old enrollments become ``providers_cm`` rows (``canonical_provider_id`` = old id)."""
    _run(
        [
            _mark_duplicates("s_provider"),
            """
            UPDATE s_provider s SET referenced = true
            WHERE s.old_id IN (SELECT cpss_old_id FROM s_enrollment WHERE problem IS NULL AND cpss_old_id <> '')
            """,
            *_mapped("s_provider", "providers", "provider_id", "providers_cm"),
            """
            UPDATE s_provider s SET provider_id = p.id FROM providers_cm p
            WHERE s.provider_id IS NULL AND s.referenced AND s.problem IS NULL AND s.dup_of IS NULL
              AND p.canonical_provider_id::text = s.old_id
            """,
            """
            UPDATE s_provider s SET provider_id = p.id FROM providers_cm p
            WHERE s.provider_id IS NULL AND s.referenced AND s.problem IS NULL AND s.dup_of IS NULL
              AND s.email IS NOT NULL AND p.email = s.email
            """,
            # One row per human: two old ids with one email are one CPSS (the first row's id is kept).
            """
            WITH ins AS (
                INSERT INTO providers_cm (canonical_provider_id, first_name, last_name, email, phone)
                SELECT DISTINCT ON (coalesce(email, old_id)) old_id::uuid, first_name, last_name, email, phone
                FROM s_provider
                WHERE provider_id IS NULL AND referenced AND problem IS NULL AND dup_of IS NULL
                ORDER BY coalesce(email, old_id), line
                RETURNING id, canonical_provider_id, email
            )
            UPDATE s_provider s SET provider_id = ins.id, created = true
            FROM ins
            WHERE s.provider_id IS NULL AND s.referenced AND s.problem IS NULL AND s.dup_of IS NULL
              AND ins.canonical_provider_id::text = s.old_id
            """,
            # The other old ids of a human just created (same email).
            """
            UPDATE s_provider s SET provider_id = p.id FROM providers_cm p
            WHERE s.provider_id IS NULL AND s.referenced AND s.problem IS NULL AND s.dup_of IS NULL
              AND s.email IS NOT NULL AND p.email = s.email
            """,
            """
            UPDATE s_provider s SET
                warning = concat_ws('; ', s.warning, 'the stored name ' || p.first_name || ' ' || p.last_name
                                    || ' differs from ' || s.first_name || ' ' || s.last_name || ' (kept)')
            FROM providers_cm p
            WHERE p.id = s.provider_id AND NOT s.created
              AND (lower(trim(p.first_name)), lower(trim(p.last_name))) <> (lower(s.first_name), lower(s.last_name))
            """,
            """
            UPDATE s_provider SET
                outcome = CASE WHEN problem IS NOT NULL OR dup_of IS NOT NULL OR NOT referenced THEN 'skipped'
                               WHEN warning IS NOT NULL THEN 'conflict'
                               WHEN mapped THEN 'unchanged' WHEN created THEN 'created' ELSE 'matched' END,
                reason = CASE WHEN problem IS NOT NULL THEN problem
                              WHEN dup_of IS NOT NULL THEN 'duplicate id: not migrated again'
                              WHEN NOT referenced THEN
                                   'not the CPSS of any CM enrollment (a psychiatry provider): not migrated'
                              WHEN warning IS NOT NULL THEN 'imported; see the detail'
                              WHEN NOT created AND NOT mapped THEN 'an existing CM provider (same id or email)' END,
                detail = CASE WHEN problem IS NOT NULL THEN detail
                              WHEN dup_of IS NOT NULL THEN 'first on line ' || dup_of
                              WHEN referenced THEN warning END,
                new_id = provider_id
            """,
        ]
    )


# --- patients ------------------------------------------------------------------------------------------


def _visible_persons(actor) -> tuple[str, list]:
    """SQL that is true for a Person ``p`` the actor may see and use (always true from the command line)."""
    if actor is None or actor.is_superuser:
        return "true", []
    sql, params = persons_visible_to(actor, Person.all_objects.all()).values("pk").query.sql_with_params()
    return f"p.id IN ({sql})", list(params)


ELIGIBLE = "s.problem IS NULL AND s.dup_of IS NULL AND s.enrolled"


def resolve_patients(*, actor) -> None:
    """Canonical identities, their Persons and CM profiles, IntakeQ mirror rows and links."""
    visible, visible_params = _visible_persons(actor)
    key = KEY.format("c")
    _run(
        [
            _mark_duplicates("s_patient"),
            "UPDATE s_patient SET kf = lower(crm_unaccent(trim(first_name))), kl = lower(crm_unaccent(trim(last_name)))"
            " WHERE problem IS NULL",
            # Only patients of an old enrollment get a canonical identity; IntakeQ clients get their mirror row.
            """
            UPDATE s_patient s SET enrolled = true
            WHERE s.old_id IN (SELECT patient_old_id FROM s_enrollment WHERE problem IS NULL AND program_id IS NOT NULL)
            """,
            *_mapped(
                "s_patient",
                "patients",
                "canonical_id",
                "patients_canonical",
                where=f"{ELIGIBLE} AND m.target = 'cm_program.canonicalpatient'",
            ),
            """
            UPDATE s_patient s SET mapped = true FROM import_mapping m
            WHERE m.source = 'cm_patients' AND m.old_table = 'patients' AND m.old_id = s.old_id
              AND s.problem IS NULL AND s.dup_of IS NULL AND NOT s.enrolled
            """,
            f"""
            UPDATE s_patient s SET canonical_id = c.id FROM patients_canonical c
            WHERE s.canonical_id IS NULL AND {ELIGIBLE} AND ({key}) = (s.kf, s.kl) AND c.date_of_birth = s.dob
            """,
            # The email rules, for rows whose identity has no Person yet (new, or existing without one).
            f"""
            UPDATE s_patient s SET email_person = p.id FROM person p
            WHERE {ELIGIBLE} AND s.email IS NOT NULL AND lower(trim(p.email)) = s.email
              AND NOT EXISTS (SELECT 1 FROM patients_canonical c
                              WHERE c.id = s.canonical_id AND c.person_id IS NOT NULL)
            """,
            (
                f"""
            UPDATE s_patient s SET problem = 'the email matches a record you cannot see: not migrated'
            FROM person p WHERE p.id = s.email_person AND NOT ({visible})
            """,
                visible_params,
            ),
            """
            UPDATE s_patient s SET problem = 'the Person with this email was deleted; restore them first: not migrated'
            FROM person p WHERE p.id = s.email_person AND NOT p.is_active AND s.problem IS NULL
            """,
            """
            UPDATE s_patient s SET problem = 'the email belongs to another canonical patient: check the name and date'
                   || ' of birth; not migrated',
                   detail = c.first_name || ' ' || c.last_name || ', ' || c.date_of_birth
            FROM patients_canonical c
            WHERE c.person_id = s.email_person AND s.problem IS NULL AND c.id IS DISTINCT FROM s.canonical_id
            """,
            # The same email on rows of different humans (name or date of birth): the first one keeps it.
            f"""
            UPDATE s_patient s SET problem = 'the same email is on an earlier line with another name or date of birth:'
                   || ' not migrated', detail = 'line ' || f.first_line
            FROM (SELECT line, first_value(line) OVER w AS first_line,
                         first_value(kf || '|' || kl || '|' || dob) OVER w AS first_key
                  FROM s_patient s WHERE {ELIGIBLE} AND email IS NOT NULL
                  WINDOW w AS (PARTITION BY email ORDER BY line)) f
            WHERE s.line = f.line AND f.first_key <> s.kf || '|' || s.kl || '|' || s.dob
            """,
            f"""
            WITH ins AS (
                INSERT INTO patients_canonical (first_name, last_name, date_of_birth)
                SELECT DISTINCT ON (kf, kl, dob) first_name, last_name, dob FROM s_patient s
                WHERE {ELIGIBLE} AND canonical_id IS NULL
                ORDER BY kf, kl, dob, line
                ON CONFLICT DO NOTHING
                RETURNING id, lower(crm_unaccent(trim(first_name))) AS kf, lower(crm_unaccent(trim(last_name))) AS kl,
                          date_of_birth AS dob
            )
            UPDATE s_patient s SET canonical_id = ins.id, canonical_created = true
            FROM ins
            WHERE s.canonical_id IS NULL AND {ELIGIBLE} AND (ins.kf, ins.kl, ins.dob) = (s.kf, s.kl, s.dob)
            """,
        ]
    )
    _link_persons(visible, visible_params)
    _profiles_and_intakeq(actor)


def _link_persons(visible: str, visible_params: list) -> None:
    """The Person of each canonical patient that has none: by email, else an unambiguous visible name +
    date-of-birth match, else a new one. Stored values are never overwritten (empty ones are filled)."""
    _run(
        [
            "DROP TABLE IF EXISTS s_person_need",
            f"""
            CREATE TEMP TABLE s_person_need ON COMMIT DROP AS
            SELECT DISTINCT ON (s.canonical_id) s.canonical_id, s.line, s.first_name, s.last_name, s.kf, s.kl,
                   s.dob, s.email, s.phone, s.email_person AS person_id, false AS person_created
            FROM s_patient s JOIN patients_canonical c ON c.id = s.canonical_id
            WHERE {ELIGIBLE} AND c.person_id IS NULL
            ORDER BY s.canonical_id, s.line
            """,
            (
                f"""
            UPDATE s_person_need n SET person_id = m.person_id FROM (
                SELECT n.canonical_id, min(p.id::text)::uuid AS person_id, count(*) AS matches
                FROM s_person_need n JOIN person p
                  ON ({KEY.format("p")}) = (n.kf, n.kl) AND p.date_of_birth = n.dob
                WHERE n.person_id IS NULL AND p.is_active AND ({visible})
                  AND (n.email IS NULL OR p.email IS NULL)
                  AND NOT EXISTS (SELECT 1 FROM patients_canonical c WHERE c.person_id = p.id)
                  AND NOT EXISTS (SELECT 1 FROM s_person_need o WHERE o.person_id = p.id)
                GROUP BY n.canonical_id
            ) m
            WHERE n.canonical_id = m.canonical_id AND m.matches = 1
            """,
                visible_params,
            ),
            "UPDATE s_person_need SET person_id = gen_random_uuid(), person_created = true WHERE person_id IS NULL",
            """
            INSERT INTO person (id, is_active, deletion_reason, first_name, last_name, email, phone, date_of_birth)
            SELECT person_id, true, '', first_name, last_name, email, coalesce(phone, ''), dob
            FROM s_person_need WHERE person_created
            """,
            # Differences with a stored Person are reported, never written over.
            """
            UPDATE s_patient s SET
                warning = concat_ws('; ', s.warning, d.differences)
            FROM (
                SELECT n.line, concat_ws('; ',
                    CASE WHEN lower(trim(p.first_name)) <> lower(n.first_name)
                           OR lower(trim(p.last_name)) <> lower(n.last_name)
                         THEN 'the Person''s stored name ' || p.first_name || ' ' || p.last_name || ' is kept' END,
                    CASE WHEN p.date_of_birth <> n.dob
                         THEN 'the Person''s stored date of birth ' || p.date_of_birth || ' is kept' END,
                    CASE WHEN p.phone <> '' AND n.phone IS NOT NULL AND p.phone <> n.phone
                         THEN 'the Person''s stored phone ' || p.phone || ' is kept' END) AS differences
                FROM s_person_need n JOIN person p ON p.id = n.person_id
                WHERE NOT n.person_created
            ) d
            WHERE s.line = d.line AND d.differences <> ''
            """,
            """
            UPDATE person p SET phone = CASE WHEN p.phone = '' THEN coalesce(n.phone, '') ELSE p.phone END,
                   email = coalesce(p.email, n.email), date_of_birth = coalesce(p.date_of_birth, n.dob),
                   updated_at = now()
            FROM s_person_need n
            WHERE n.person_id = p.id AND NOT n.person_created
              AND ((p.phone = '' AND n.phone IS NOT NULL) OR (p.email IS NULL AND n.email IS NOT NULL)
                   OR p.date_of_birth IS NULL)
            """,
            """
            UPDATE patients_canonical c SET person_id = n.person_id, updated_at = now()
            FROM s_person_need n WHERE c.id = n.canonical_id
            """,
            """
            UPDATE s_patient s SET person_id = n.person_id, person_created = n.person_created
            FROM s_person_need n WHERE s.line = n.line
            """,
        ]
    )


def _profiles_and_intakeq(actor) -> None:
    linked_by = getattr(actor, "pk", None)
    _run(
        [
            # One CM profile per canonical patient; an existing one keeps its values (empty ones are filled).
            f"""
            WITH ins AS (
                INSERT INTO patients_cm (canonical_patient_id, phone, email, enrollment_source)
                SELECT DISTINCT ON (canonical_id) canonical_id, coalesce(phone, phone_raw), email,
                       CASE WHEN client_id IS NOT NULL THEN 'existing_patient' END
                FROM s_patient s
                WHERE {ELIGIBLE} AND canonical_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM patients_cm cm WHERE cm.canonical_patient_id = s.canonical_id)
                ORDER BY canonical_id, line
                RETURNING id, canonical_patient_id
            )
            UPDATE s_patient s SET profile_id = ins.id, profile_created = true
            FROM ins WHERE ins.canonical_patient_id = s.canonical_id AND {ELIGIBLE}
            """,
            f"""
            UPDATE patients_cm cm SET phone = coalesce(cm.phone, f.phone), email = coalesce(cm.email, f.email),
                   updated_at = now()
            FROM (SELECT DISTINCT ON (canonical_id) canonical_id, coalesce(phone, phone_raw) AS phone, email
                  FROM s_patient s WHERE {ELIGIBLE} AND NOT profile_created AND canonical_id IS NOT NULL
                  ORDER BY canonical_id, line) f
            WHERE cm.canonical_patient_id = f.canonical_id
              AND ((cm.phone IS NULL AND f.phone IS NOT NULL) OR (cm.email IS NULL AND f.email IS NOT NULL))
            """,
            f"""
            UPDATE s_patient s SET profile_id = cm.id FROM patients_cm cm
            WHERE cm.canonical_patient_id = s.canonical_id AND {ELIGIBLE}
            """,
            # The IntakeQ mirror row, unless import_intakeq (or an earlier run) made it.
            """
            WITH ins AS (
                INSERT INTO patients (intakeq_client_id, first_name, last_name, date_of_birth, email, phone)
                SELECT DISTINCT ON (client_id) client_id, first_name, last_name, dob, email, phone_raw
                FROM s_patient s WHERE problem IS NULL AND dup_of IS NULL AND client_id IS NOT NULL
                ORDER BY client_id, line
                ON CONFLICT (intakeq_client_id) DO NOTHING
                RETURNING id, intakeq_client_id
            )
            UPDATE s_patient s SET mirror_id = ins.id, mirror_created = true
            FROM ins WHERE ins.intakeq_client_id = s.client_id AND s.problem IS NULL AND s.dup_of IS NULL
            """,
            """
            UPDATE s_patient s SET mirror_id = q.id FROM patients q
            WHERE q.intakeq_client_id = s.client_id AND s.mirror_id IS NULL AND s.problem IS NULL AND s.dup_of IS NULL
            """,
            (
                f"""
            WITH ins AS (
                INSERT INTO patients_intakeq_link (canonical_patient_id, intakeq_patient_id, linked_by,
                                                   confidence_score, notes)
                SELECT DISTINCT ON (canonical_id) canonical_id, mirror_id, %s, 1.00, 'migrated'
                FROM s_patient s
                WHERE {ELIGIBLE} AND canonical_id IS NOT NULL AND mirror_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link l WHERE l.canonical_patient_id = s.canonical_id)
                  AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link l WHERE l.intakeq_patient_id = s.mirror_id)
                ORDER BY canonical_id, line
                ON CONFLICT DO NOTHING
                RETURNING canonical_patient_id, intakeq_patient_id
            )
            UPDATE s_patient s SET link_created = true FROM ins
            WHERE (ins.canonical_patient_id, ins.intakeq_patient_id) = (s.canonical_id, s.mirror_id) AND {ELIGIBLE}
            """,
                [linked_by],
            ),
            f"""
            UPDATE s_patient s SET warning = concat_ws('; ', s.warning,
                'the IntakeQ client is linked to another canonical patient, or this patient to another IntakeQ'
                || ' client: link not made')
            WHERE {ELIGIBLE} AND s.canonical_id IS NOT NULL AND s.mirror_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link l
                              WHERE (l.canonical_patient_id, l.intakeq_patient_id) = (s.canonical_id, s.mirror_id))
            """,
            *_refresh_profile_phones(),
            """
            UPDATE s_patient s SET
                outcome = CASE
                    WHEN problem IS NOT NULL OR dup_of IS NOT NULL THEN 'skipped'
                    WHEN NOT enrolled AND client_id IS NULL THEN 'skipped'
                    WHEN enrolled AND canonical_id IS NULL THEN 'skipped'
                    WHEN warning IS NOT NULL THEN 'conflict'
                    WHEN profile_updated THEN 'updated'
                    WHEN mapped THEN 'unchanged'
                    WHEN canonical_created OR (NOT enrolled AND mirror_created) THEN 'created'
                    ELSE 'matched' END,
                reason = CASE
                    WHEN problem IS NOT NULL THEN problem
                    WHEN dup_of IS NOT NULL THEN 'duplicate id: not migrated again'
                    WHEN NOT enrolled AND client_id IS NULL THEN
                         'CM-written row without an enrollment to migrate: nothing migrated; '
                         || 'ready to leave the shared table'
                    WHEN enrolled AND canonical_id IS NULL THEN 'no canonical identity could be made'
                    WHEN warning IS NOT NULL THEN 'imported; see the detail'
                    WHEN profile_updated THEN 'changed in the export: updated'
                    WHEN NOT enrolled THEN 'IntakeQ client without a CM enrollment: mirror row only'
                    WHEN client_id IS NULL THEN 'CM-written row: migrated; ready to leave the shared table'
                    ELSE 'IntakeQ client in CM: migrated and linked; stays in the IntakeQ mirror' END,
                detail = CASE WHEN problem IS NOT NULL THEN detail
                              WHEN dup_of IS NOT NULL THEN 'first on line ' || dup_of
                              WHEN warning IS NULL AND profile_updated THEN 'CM profile phone'
                              ELSE warning END,
                new_id = coalesce(canonical_id, mirror_id)
            """,
        ]
    )


def _refresh_profile_phones() -> list[str]:
    """A second run's change to a CM profile's phone: the mapping keeps the phone the import wrote. When
    the export's phone differs from it, the profile takes it if it still holds what the import wrote, and
    keeps the CRM's phone otherwise (reported: conflict). Names, dates of birth and emails are identity
    and are never changed by a later run."""
    phone = "coalesce(s.phone, s.phone_raw)"
    first_row = (
        f"{ELIGIBLE} AND s.mapped AND s.canonical_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM s_patient o"
        " WHERE o.canonical_id = s.canonical_id AND o.line < s.line AND o.mapped AND o.problem IS NULL"
        " AND o.dup_of IS NULL AND o.enrolled)"
    )
    return [
        f"""
        UPDATE s_patient s SET written_before = m.written FROM import_mapping m
        WHERE {ELIGIBLE} AND s.mapped AND m.source = 'cm_patients' AND m.old_table = 'patients'
          AND m.old_id = s.old_id
        """,
        f"UPDATE s_patient s SET written = jsonb_build_object('profile_phone', {phone}) WHERE s.profile_created",
        f"""
        UPDATE s_patient s SET written = coalesce(s.written_before, '{{}}'::jsonb)
                                         || jsonb_build_object('profile_phone', {phone}),
               profile_updated = cm.phone IS DISTINCT FROM {phone}
        FROM patients_cm cm
        WHERE cm.id = s.profile_id AND {first_row}
          AND {phone} IS DISTINCT FROM s.written_before ->> 'profile_phone'
          AND (cm.phone IS NOT DISTINCT FROM {phone}
               OR (s.written_before ? 'profile_phone'
                   AND cm.phone IS NOT DISTINCT FROM s.written_before ->> 'profile_phone'))
        """,
        f"""
        UPDATE s_patient s SET warning = concat_ws('; ', s.warning, 'CM profile phone: kept '
               || coalesce(cm.phone, '(none)') || ', the export has ' || coalesce({phone}, '(none)')
               || ' (changed in the CRM since the import)')
        FROM patients_cm cm
        WHERE cm.id = s.profile_id AND {first_row} AND s.written IS NULL
          AND {phone} IS DISTINCT FROM s.written_before ->> 'profile_phone'
          AND cm.phone IS DISTINCT FROM {phone}
        """,
        f"""
        UPDATE patients_cm cm SET phone = {phone}, updated_at = now()
        FROM s_patient s WHERE s.profile_updated AND cm.id = s.profile_id
        """,
    ]
