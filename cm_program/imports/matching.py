"""Matching IntakeQ clients to canonical patients: graded in SQL, banded, proposed, linked when certain.

An IntakeQ client without a link is compared with the canonical patients when either side is new or
changed since the last grading (``IntakeQMatchingWatermark``; everyone on the first run or with
``full=True``, the command's ``--rematch-all``), or lost its link since then (both sides of a removed link,
found by the link's delete event in the audit trail). The pair of a removed link goes back to the queue
(status proposed) and is never linked again automatically: a person undid it, a person decides. The formula is in
docs/MIGRATION.md, section 3, and below. Each pair that scores at least 0.40 becomes (or updates) an
``IntakeQMatchCandidate``; a pair that a person rejected keeps its row and is never proposed again, a
linked pair is left as it is. Then the *certain* pairs (>= 0.90) whose two sides are both unlinked, and
that are the only certain pair of each side, are linked automatically (``linked_by`` empty: nobody
confirmed it; note "auto"); every other pair waits in the queue for a CM supervisor.

Score (each part in [0, 1]; all names compared as ``lower(crm_unaccent(name))``):

    name  = 1 when first + last name are equal ignoring case, accents, spaces and punctuation; otherwise
            min(0.99, (first + last) / 2) with first = the best of pg_trgm's similarity and
            word_similarity both ways ("Kate" / "Katherine"), last = similarity
    dob   = 1 exact, 0.6 day and month transposed, 0 different or missing
    score = 0.55 name + 0.35 dob + 0.10 [email agrees] + 0.10 [phone agrees]
            - 0.05 [email differs] - 0.05 [phone differs], within [0, 1], rounded to 2 decimals;
            names that differ at all stay below 0.90 unless the email or the phone agrees.

Which pairs are graded (a pair outside these cannot reach 0.40): the same or transposed date of birth,
the same email, the same phone (last 10 digits), or last names with a trigram similarity of at least
0.45 and first names of at least 0.45 (with neither date of birth nor contact agreeing, 0.40 needs
name >= 0.73, hence both last >= 0.45 and first >= 0.45).
The last-name pairs are found among *distinct* last names through a temporary trigram index, then
joined back to the rows: an index probe per distinct name rather than per client.
"""

from __future__ import annotations

from django.db import connection

from cm_program.models import IntakeQLink, IntakeQMatchingWatermark
from common.imports.report import ImportReport

CERTAIN = 0.90
PROBABLE = 0.65
POSSIBLE = 0.40
LAST_NAME_THRESHOLD = 0.45
FIRST_NAME_THRESHOLD = 0.45

# The normalised names and contact keys of both sides, in temporary tables (dropped at commit). ``changed``:
# the row changed or lost its link since the last grading (``%(since)s``; every row on the first run or a full one).
_PREPARE = [
    "DROP TABLE IF EXISTS match_q, match_c, match_last_names, match_pairs, match_q_new, match_c_new, "
    "match_last_names_new, match_unlinked_since",
    # Both sides of every link removed since the last grading (the audit trail's delete events: a link is
    # a row, removed in the admin): neither row changed, yet each side is unlinked again and is graded.
    f"""
    CREATE TEMP TABLE match_unlinked_since ON COMMIT DROP AS
    SELECT e.intakeq_patient_id, e.canonical_patient_id
      FROM {IntakeQLink.pgh_event_model._meta.db_table} e
     WHERE e.pgh_label = 'delete' AND (%(since)s IS NULL OR e.pgh_created_at >= %(since)s)
    """,
    # IntakeQ clients without a link.
    r"""
    CREATE TEMP TABLE match_q ON COMMIT DROP AS
    SELECT p.id,
           lower(crm_unaccent(btrim(p.first_name))) AS f,
           lower(crm_unaccent(btrim(p.last_name))) AS l,
           regexp_replace(lower(crm_unaccent(p.first_name || p.last_name)), '[^[:alnum:]]', '', 'g') AS fl,
           p.date_of_birth AS dob,
           nullif(lower(btrim(p.email)), '') AS email,
           CASE WHEN length(regexp_replace(coalesce(p.phone, ''), '\D', '', 'g')) >= 7
                THEN right(regexp_replace(p.phone, '\D', '', 'g'), 10) END AS phone,
           (%(since)s IS NULL OR p.updated_at >= %(since)s
            OR p.id IN (SELECT intakeq_patient_id FROM match_unlinked_since)) AS changed
      FROM patients p
     WHERE NOT EXISTS (SELECT 1 FROM patients_intakeq_link k WHERE k.intakeq_patient_id = p.id)
    """,
    # Canonical patients, with the emails and phones of their Person and their CM profile.
    r"""
    CREATE TEMP TABLE match_c ON COMMIT DROP AS
    SELECT c.id,
           lower(crm_unaccent(btrim(c.first_name))) AS f,
           lower(crm_unaccent(btrim(c.last_name))) AS l,
           regexp_replace(lower(crm_unaccent(c.first_name || c.last_name)), '[^[:alnum:]]', '', 'g') AS fl,
           c.date_of_birth AS dob,
           nullif(lower(btrim(per.email)), '') AS email1,
           nullif(lower(btrim(cm.email)), '') AS email2,
           nullif(right(regexp_replace(coalesce(per.phone, ''), '\D', '', 'g'), 10), '') AS phone1,
           nullif(right(regexp_replace(coalesce(cm.phone, ''), '\D', '', 'g'), 10), '') AS phone2,
           (%(since)s IS NOT NULL AND (greatest(c.updated_at, per.updated_at, cm.updated_at) >= %(since)s
                                       OR c.id IN (SELECT canonical_patient_id FROM match_unlinked_since))) AS changed
      FROM patients_canonical c
      LEFT JOIN person per ON per.id = c.person_id
      LEFT JOIN patients_cm cm ON cm.canonical_patient_id = c.id
    """,
    "CREATE INDEX ON match_c (dob)",
    "CREATE INDEX ON match_c (l)",
    "CREATE TEMP TABLE match_q_new ON COMMIT DROP AS SELECT * FROM match_q WHERE changed",
    "CREATE TEMP TABLE match_c_new ON COMMIT DROP AS SELECT * FROM match_c WHERE changed",
    "CREATE TEMP TABLE match_last_names ON COMMIT DROP AS SELECT DISTINCT l FROM match_c",
    "CREATE INDEX ON match_last_names USING gin (l gin_trgm_ops)",
    "CREATE TEMP TABLE match_last_names_new ON COMMIT DROP AS SELECT DISTINCT l FROM match_c_new",
    "CREATE INDEX ON match_last_names_new USING gin (l gin_trgm_ops)",
    "ANALYZE match_q",
    "ANALYZE match_c",
    "ANALYZE match_q_new",
    "ANALYZE match_c_new",
    "ANALYZE match_last_names",
    "ANALYZE match_last_names_new",
    f"SET LOCAL pg_trgm.similarity_threshold = {LAST_NAME_THRESHOLD}",
]


def _pairs(q: str, c: str, last_names: str) -> str:
    """The pairs worth grading between clients ``q`` and canonical patients ``c`` (see the module's
    docstring). One equality per branch: an OR (``IN (a, b)``) cannot be a hash join and compared every
    client with every canonical patient."""
    return f"""
    SELECT q.id AS q_id, c.id AS c_id FROM {q} q JOIN {c} c ON c.dob = q.dob
    UNION
    SELECT q.id, c.id FROM {q} q JOIN {c} c
        ON extract(day FROM q.dob) <= 12 AND extract(day FROM q.dob) <> extract(month FROM q.dob)
       AND c.dob = make_date(extract(year FROM q.dob)::int, extract(day FROM q.dob)::int,
                             extract(month FROM q.dob)::int)
    UNION
    SELECT q.id, c.id FROM {q} q JOIN {c} c ON c.email1 = q.email
    UNION
    SELECT q.id, c.id FROM {q} q JOIN {c} c ON c.email2 = q.email
    UNION
    SELECT q.id, c.id FROM {q} q JOIN {c} c ON c.phone1 = q.phone
    UNION
    SELECT q.id, c.id FROM {q} q JOIN {c} c ON c.phone2 = q.phone
    UNION
    SELECT q.id, c.id
      FROM (SELECT DISTINCT l FROM {q}) ql
      JOIN {last_names} cl ON cl.l % ql.l
      JOIN {q} q ON q.l = ql.l
      JOIN {c} c ON c.l = cl.l
     WHERE greatest(similarity(q.f, c.f), word_similarity(q.f, c.f), word_similarity(c.f, q.f))
           >= {FIRST_NAME_THRESHOLD}
    """


# The changed clients against every canonical patient, and every unlinked client against the changed
# canonical patients.
_PAIRS = f"""
CREATE TEMP TABLE match_pairs ON COMMIT DROP AS
{_pairs("match_q_new", "match_c", "match_last_names")}
UNION
{_pairs("match_q", "match_c_new", "match_last_names_new")}
"""

# Grade every pair, keep those >= 0.40 (rejected and linked pairs are not touched).
_GRADE = f"""
WITH parts AS (
    SELECT q.id AS q_id, c.id AS c_id,
           similarity(q.f, c.f) AS first_trgm,
           greatest(similarity(q.f, c.f), word_similarity(q.f, c.f), word_similarity(c.f, q.f)) AS first_sim,
           similarity(q.l, c.l) AS last_sim,
           q.fl = c.fl AS same_name,
           CASE WHEN q.dob IS NULL THEN 'missing'
                WHEN q.dob = c.dob THEN 'exact'
                WHEN extract(day FROM q.dob) <= 12
                     AND c.dob = make_date(extract(year FROM q.dob)::int, extract(day FROM q.dob)::int,
                                           extract(month FROM q.dob)::int) THEN 'transposed'
                ELSE 'different' END AS dob,
           CASE WHEN q.email IS NULL OR (c.email1 IS NULL AND c.email2 IS NULL) THEN 'missing'
                WHEN q.email IN (c.email1, c.email2) THEN 'agrees' ELSE 'differs' END AS email,
           CASE WHEN q.phone IS NULL OR (c.phone1 IS NULL AND c.phone2 IS NULL) THEN 'missing'
                WHEN q.phone IN (c.phone1, c.phone2) THEN 'agrees' ELSE 'differs' END AS phone
      FROM match_pairs mp
      JOIN match_q q ON q.id = mp.q_id
      JOIN match_c c ON c.id = mp.c_id
), named AS (
    SELECT parts.*,
           CASE WHEN same_name THEN 1.0 ELSE least(0.99, (first_sim + last_sim) / 2) END AS name
      FROM parts
), scored AS (
    SELECT named.*,
           round(greatest(0, least(
               CASE WHEN same_name OR email = 'agrees' OR phone = 'agrees' THEN 1.0 ELSE 0.89 END,
               0.55 * name
               + 0.35 * CASE dob WHEN 'exact' THEN 1.0 WHEN 'transposed' THEN 0.6 ELSE 0 END
               + CASE email WHEN 'agrees' THEN 0.10 WHEN 'differs' THEN -0.05 ELSE 0 END
               + CASE phone WHEN 'agrees' THEN 0.10 WHEN 'differs' THEN -0.05 ELSE 0 END
           ))::numeric, 2) AS score
      FROM named
), banded AS (
    SELECT scored.*,
           CASE WHEN score >= {CERTAIN} THEN 'certain' WHEN score >= {PROBABLE} THEN 'probable'
                ELSE 'possible' END AS band
      FROM scored
     WHERE score >= {POSSIBLE}
), written AS (
    INSERT INTO intakeq_match_candidate AS m
           (id, canonical_patient_id, intakeq_patient_id, score, band, components, status, created_at, updated_at)
    SELECT gen_random_uuid(), c_id, q_id, score, band,
           jsonb_build_object(
               'name', round(name::numeric, 2), 'first_name', round(first_sim::numeric, 2),
               'last_name', round(last_sim::numeric, 2), 'same_name', same_name,
               'date_of_birth', dob, 'email', email, 'phone', phone),
           'proposed', now(), now()
      FROM banded
    ON CONFLICT (canonical_patient_id, intakeq_patient_id) DO UPDATE
       SET score = EXCLUDED.score, band = EXCLUDED.band, components = EXCLUDED.components, updated_at = now()
     WHERE m.status = 'proposed'
       AND (m.score, m.band, m.components) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.band, EXCLUDED.components)
    RETURNING m.band, (m.xmax = 0) AS inserted
)
SELECT band, count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written GROUP BY band
"""

# A pair whose link was removed (its decision "linked" in the queue) goes back to the queue: a person removed
# the link, a person decides again. Never linked again automatically (``_AUTO_LINK``).
_REOPEN = """
UPDATE intakeq_match_candidate m
   SET status = 'proposed', decided_by_id = NULL, decided_at = NULL, updated_at = now()
  FROM match_unlinked_since u
 WHERE m.status = 'linked'
   AND (m.intakeq_patient_id, m.canonical_patient_id) = (u.intakeq_patient_id, u.canonical_patient_id)
   AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link k
                    WHERE k.intakeq_patient_id = m.intakeq_patient_id
                      AND k.canonical_patient_id = m.canonical_patient_id)
"""

# Link the certain pairs whose sides are both unlinked and that are each side's only certain pair, unless
# a link of that very pair was removed once (a person undid it: the queue decides).
_AUTO_LINK = f"""
WITH touched AS (
    SELECT m.canonical_patient_id, m.intakeq_patient_id FROM intakeq_match_candidate m
     WHERE m.status = 'proposed' AND m.band = 'certain'
       AND (m.canonical_patient_id IN (SELECT c_id FROM match_pairs)
            OR m.intakeq_patient_id IN (SELECT q_id FROM match_pairs))
), certain AS (
    SELECT m.id, m.canonical_patient_id, m.intakeq_patient_id, m.score,
           count(*) OVER (PARTITION BY m.canonical_patient_id) AS per_canonical,
           count(*) OVER (PARTITION BY m.intakeq_patient_id) AS per_client
      FROM intakeq_match_candidate m
     WHERE m.status = 'proposed' AND m.band = 'certain'
       AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link k WHERE k.canonical_patient_id = m.canonical_patient_id)
       AND NOT EXISTS (SELECT 1 FROM patients_intakeq_link k WHERE k.intakeq_patient_id = m.intakeq_patient_id)
       -- The sides graded in this run, and every certain pair of theirs (for the counts).
       AND (m.canonical_patient_id IN (SELECT canonical_patient_id FROM touched)
            OR m.intakeq_patient_id IN (SELECT intakeq_patient_id FROM touched))
), sole AS (
    SELECT * FROM certain
     WHERE per_canonical = 1 AND per_client = 1
       AND NOT EXISTS (SELECT 1 FROM {IntakeQLink.pgh_event_model._meta.db_table} e
                        WHERE e.pgh_label = 'delete' AND e.canonical_patient_id = certain.canonical_patient_id
                          AND e.intakeq_patient_id = certain.intakeq_patient_id)
       AND (canonical_patient_id IN (SELECT c_id FROM match_pairs)
            OR intakeq_patient_id IN (SELECT q_id FROM match_pairs))
), linked AS (
    INSERT INTO patients_intakeq_link
           (id, canonical_patient_id, intakeq_patient_id, linked_date, linked_by, confidence_score, notes,
            created_at, updated_at)
    SELECT gen_random_uuid(), canonical_patient_id, intakeq_patient_id, now(), NULL, score, 'auto', now(), now()
      FROM sole
    ON CONFLICT DO NOTHING
    RETURNING canonical_patient_id, intakeq_patient_id
)
UPDATE intakeq_match_candidate m
   SET status = 'linked', decided_at = now(), updated_at = now()
  FROM linked l
 WHERE m.canonical_patient_id = l.canonical_patient_id AND m.intakeq_patient_id = l.intakeq_patient_id
"""


def _since(full: bool):
    """The watermark of the last grading (None: never graded, or a full grading is asked for)."""
    if full:
        return None
    return IntakeQMatchingWatermark.objects.filter(pk=1).values_list("graded_until", flat=True).first()


def _save_watermark(cursor) -> None:
    # The start of the oldest transaction open now (ours included): a change that such a transaction
    # commits later carries an updated_at before our now(), and the next run must still see it.
    cursor.execute(
        """
        INSERT INTO intakeq_matching_watermark (id, graded_until)
        SELECT 1, least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                                WHERE datname = current_database() AND xact_start IS NOT NULL))
        ON CONFLICT (id) DO UPDATE SET graded_until = EXCLUDED.graded_until
        """
    )


def match_unlinked_clients(*, report: ImportReport | None = None, full: bool = False) -> dict[str, int]:
    """Grade every unlinked IntakeQ client against the canonical patients, write the candidates and
    link the certain ones (see the module's docstring). Runs inside the caller's transaction (the
    import's); returns the counts it also notes in the report.

    The automatic links follow the rules of ``services.intakeq_link_create`` in one statement: at most
    one link per canonical patient and per IntakeQ client (both unique indexes; ``ON CONFLICT DO
    NOTHING`` leaves a pair linked concurrently in the queue), a confidence within 0.00-1.00 (the
    score). ``linked_by`` stays empty: nobody confirmed it.
    """
    counts = {"clients": 0, "pairs": 0, "linked": 0, "rejected_kept": 0}
    since = _since(full)
    with connection.cursor() as cursor:
        for statement in _PREPARE:
            cursor.execute(statement, {"since": since})
        cursor.execute(_REOPEN)
        counts["reopened"] = cursor.rowcount
        cursor.execute(_PAIRS)
        cursor.execute(
            "SELECT (SELECT count(*) FROM match_q), (SELECT count(*) FROM match_pairs), "
            "(SELECT count(*) FROM match_q_new), (SELECT count(*) FROM match_c_new)"
        )
        counts["unlinked"], counts["pairs"], counts["clients"], counts["canonical_changed"] = cursor.fetchone()
        cursor.execute(_GRADE)
        for band, inserted, updated in cursor.fetchall():
            counts[f"{band}_new"] = inserted
            counts[f"{band}_updated"] = updated
        cursor.execute(_AUTO_LINK)
        counts["linked"] = cursor.rowcount
        cursor.execute(
            "SELECT count(*) FROM intakeq_match_candidate m JOIN match_pairs p "
            "ON (p.q_id, p.c_id) = (m.intakeq_patient_id, m.canonical_patient_id) WHERE m.status = 'rejected'"
        )
        counts["rejected_kept"] = cursor.fetchone()[0]
        _save_watermark(cursor)
        cursor.execute(_PREPARE[0])
    if report is not None:
        new = ", ".join(f"{counts.get(f'{band}_new', 0):,} {band}" for band in ("certain", "probable", "possible"))
        report.note(
            f"Matching: {counts['unlinked']:,} unlinked IntakeQ clients, {counts['clients']:,} of them new or changed "
            f"since the last grading, and {counts['canonical_changed']:,} canonical patients new or changed since; "
            f"{counts['pairs']:,} pairs graded; "
            f"new candidates: {new}; {counts['linked']:,} certain pairs linked automatically (note 'auto'); "
            f"{counts['rejected_kept']:,} pairs rejected earlier stay rejected."
            + (
                f" {counts['reopened']:,} pairs whose link was removed are back in the review queue."
                if counts["reopened"]
                else ""
            )
        )
    return counts
