"""Possible duplicates, graded in SQL: the one scoring shared by persons (``people.duplicates``) and canonical
patients (``cm_program.duplicates``), for one record's candidates and for the whole table (``find_duplicates``).

A program describes its records as a *source*: a ``SELECT`` of ``id``, ``f`` / ``l`` (first and last name,
``lower(crm_unaccent(...))``), ``dob``, ``phone`` (E.164, '' when none), ``el`` / ``ed`` (the email's local
part and domain), ``changed_at`` (the latest ``updated_at`` of the rows it reads), over the live records only.
The scoring (docs/DUPLICATES.md):

    name  = (similarity(first names) + similarity(last names)) / 2      (pg_trgm, accents and case ignored)
    score = 0.50 name + 0.30 [same DOB] (0.25 when day and month are swapped) + 0.15 [same phone]
            + 0.10 [same email local part at another domain], at most 1, rounded to 2 decimals
    a pair is proposed at PROPOSE (0.60) or more

Which pairs are graded (blocking): those sharing a date of birth (or with day and month swapped), a phone or an
email local part. A pair that shares none of them cannot reach 0.60 (name alone gives at most 0.50), so no
candidate is missed by the blocking; a pair decided "not the same person" (or merged) is never proposed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from common.progress import Progress

PROPOSE = Decimal("0.60")
NAME_WEIGHT, DOB_WEIGHT, DOB_SWAPPED_WEIGHT, PHONE_WEIGHT, EMAIL_WEIGHT = 0.50, 0.30, 0.25, 0.15, 0.10
BATCH = 20_000  # changed records graded per statement by find_duplicates (memory stays flat)
# Statuses a person decided (never touched by the finder) and the finder's own.
DECIDED = ("not_duplicate", "merged")


def swapped(dob: str) -> str:
    """The date with day and month swapped (NULL when that is no other valid date)."""
    return (
        f"CASE WHEN extract(day FROM {dob}) <= 12 AND extract(day FROM {dob}) <> extract(month FROM {dob}) "
        f"THEN make_date(extract(year FROM {dob})::int, extract(day FROM {dob})::int, extract(month FROM {dob})::int) "
        f"END"
    )


# The blocking keys: one equality per branch (an OR of them cannot use an index or a hash join).
# The queue's blocking keys (find_duplicates): a shared date of birth counts only with a shared initial of the
# first or the last name. Without it a full run graded ~30 pairs per record (every birthday twin): 450 records/s,
# 37 minutes at 1M persons; with it a few pairs per record (docs/DUPLICATES.md, "Blocking").
_TABLE_BLOCKS = (
    "b.dob = a.dob AND b.li = a.li",
    "b.dob = a.dob AND b.fi = a.fi",
    f"b.dob = {swapped('a.dob')} AND b.li = a.li",
    f"b.dob = {swapped('a.dob')} AND b.fi = a.fi",
    "b.phone = a.phone AND a.phone <> ''",
    "b.el = a.el AND a.el <> ''",
)

# One record's blocking keys (the screens): every shared date of birth (an index probe is cheap for one record).
_BLOCKS = (
    "b.dob = a.dob",
    f"b.dob = {swapped('a.dob')}",
    "b.phone = a.phone AND a.phone <> '' AND b.phone <> ''",  # (the phone indexes leave blank phones out)
    "b.el = a.el AND a.el <> ''",
)

# a, b -> g (the parts) and s (score, reasons).
_GRADE = f"""
CROSS JOIN LATERAL (
    SELECT ((similarity(a.f, b.f) + similarity(a.l, b.l)) / 2)::numeric AS name,
           CASE WHEN a.dob = b.dob THEN 1 WHEN a.dob = {swapped("b.dob")} THEN 2 ELSE 0 END AS dob,
           coalesce(a.phone <> '' AND a.phone = b.phone, false) AS phone,
           coalesce(a.el <> '' AND a.el = b.el AND a.ed <> b.ed, false) AS email
) g
CROSS JOIN LATERAL (
    SELECT round(least(1, {NAME_WEIGHT} * g.name
                          + CASE g.dob WHEN 1 THEN {DOB_WEIGHT} WHEN 2 THEN {DOB_SWAPPED_WEIGHT} ELSE 0 END
                          + CASE WHEN g.phone THEN {PHONE_WEIGHT} ELSE 0 END
                          + CASE WHEN g.email THEN {EMAIL_WEIGHT} ELSE 0 END), 2) AS score,
           to_jsonb(array_remove(ARRAY[
               CASE g.dob WHEN 1 THEN 'same DOB' WHEN 2 THEN 'DOB day/month swapped' END,
               'name ' || to_char(round(g.name, 2), 'FM0.00'),
               CASE WHEN g.phone THEN 'same phone' END,
               CASE WHEN g.email THEN 'same email name, other domain' END
           ], NULL)) AS reasons
) s
"""


@dataclass(frozen=True)
class DuplicateSource:
    """How one program's records are read and where their pairs are kept."""

    program: str  # "crm" or "cm": the watermark's key
    source: str  # the SELECT described in the module docstring (live records only)
    pair_table: str
    low: str  # the pair table's columns of the two records
    high: str
    # One record's candidates: SELECTs of the ids sharing a blocking key with ``me a`` (the record, as the
    # source reads it), each able to use an index of the base tables. Default: the blocks over ``source``.
    probes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    id: object
    score: Decimal
    reasons: list[str] = field(default_factory=list)


def candidates(src: DuplicateSource, record_id, *, limit: int | None = None) -> list[Candidate]:
    """The records that may be the same human as ``record_id``, best first (one statement; each blocking key is
    an index probe). Pairs decided "not the same person" or merged are left out."""
    probes = src.probes or tuple(f"SELECT b.id FROM me a JOIN ({src.source}) b ON {block}" for block in _BLOCKS)
    branches = " UNION ".join(probes)
    sql = f"""
    WITH me AS MATERIALIZED (SELECT * FROM ({src.source}) v WHERE v.id = %(id)s),
         keys AS ({branches})
    SELECT b.id, s.score, s.reasons
      FROM me a
      JOIN ({src.source}) b ON b.id IN (SELECT id FROM keys)
      {_GRADE}
     WHERE b.id <> a.id AND s.score >= %(propose)s
       AND NOT EXISTS (SELECT 1 FROM {src.pair_table} d
                        WHERE d.{src.low} = least(a.id, b.id) AND d.{src.high} = greatest(a.id, b.id)
                          AND d.status = ANY(%(decided)s))
     ORDER BY s.score DESC, b.id
    """
    params = {"id": record_id, "propose": PROPOSE, "decided": list(DECIDED)}
    if limit is not None:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Candidate(id=row[0], score=row[1], reasons=_reasons(row[2])) for row in cursor.fetchall()]


def grade_pair(src: DuplicateSource, one_id, other_id) -> tuple[Decimal, list[str]]:
    """The score and reasons of one pair, whatever they are (a pair decided by hand is stored with them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.score, s.reasons FROM ({src.source}) a, ({src.source}) b {_GRADE} "
            "WHERE a.id = %(a)s AND b.id = %(b)s",
            {"a": one_id, "b": other_id},
        )
        row = cursor.fetchone()
    return (row[0], _reasons(row[1])) if row else (Decimal("0.00"), [])


def _reasons(value) -> list[str]:
    if isinstance(value, str):
        import json

        return json.loads(value)
    return list(value or [])


@dataclass
class ScanReport:
    program: str
    full: bool
    since: dt.datetime | None
    changed: int = 0
    graded: int = 0
    new: int = 0
    updated: int = 0
    closed: int = 0
    not_duplicate_kept: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        data = {key: value for key, value in self.__dict__.items() if key != "since"}
        data["since"] = self.since.isoformat() if self.since else None
        return data

    def lines(self) -> list[str]:
        scope = "full run" if self.full else f"records changed since {self.since:%Y-%m-%d %H:%M:%S %Z}"
        return [
            f"{self.program}: {scope}: {self.changed:,} records, {self.graded:,} pairs at or above {PROPOSE}",
            f"  new open pairs {self.new:,}, open pairs rescored {self.updated:,}, "
            f"unchanged {self.graded - self.new - self.updated:,}, "
            f"open pairs closed {self.closed:,} (a record deleted or no longer alike), "
            f"'not the same person' pairs kept as decided {self.not_duplicate_kept:,}",
            f"  {self.seconds:.1f} s",
        ]


def scan(src: DuplicateSource, *, full: bool = False, progress: bool = True, stream=None) -> ScanReport:
    """Fill the queue of ``src``: grade the records changed since the last run (all with ``full``, or when there
    was no run) against every live record sharing a blocking key, then

    * insert new pairs as open, rescore open (and closed) pairs that are found again;
    * never touch a pair decided "not the same person" or merged;
    * close the open pairs of which a record was deleted, or of which a changed record no longer matches.

    Set-based: the changed records are numbered once in a temporary table and graded ``BATCH`` at a time, one
    committed statement per batch, so memory stays flat and an interrupted run keeps what it wrote (the
    watermark moves only at the end: the next run starts where this one started)."""
    from people.models import DuplicateScan

    started = timezone.now()
    previous = DuplicateScan.objects.filter(program=src.program).first()
    full = full or previous is None
    since = None if full else previous.scanned_up_to
    report = ScanReport(program=src.program, full=full, since=since)
    clock = Progress(f"find_duplicates {src.program}", enabled=progress, stream=stream)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS dup_src, dup_changed, dup_found")
        # The live records, normalised once (names unaccented, initials), with the indexes of the blocking keys.
        cursor.execute(
            f"CREATE TEMP TABLE dup_src AS SELECT v.*, left(v.f, 1) AS fi, left(v.l, 1) AS li FROM ({src.source}) v"
        )
        for columns in ("id", "dob, li", "dob, fi", "phone", "el"):
            cursor.execute(f"CREATE INDEX ON dup_src ({columns})")
        cursor.execute("ANALYZE dup_src")
        cursor.execute(
            "CREATE TEMP TABLE dup_changed AS SELECT v.id, row_number() OVER (ORDER BY v.id) AS rn "
            "FROM dup_src v WHERE %(full)s OR v.changed_at >= %(since)s",
            {"full": full, "since": since or started},
        )
        cursor.execute("CREATE INDEX ON dup_changed (rn)")
        cursor.execute("CREATE UNIQUE INDEX ON dup_changed (id)")
        cursor.execute("ANALYZE dup_changed")
        cursor.execute("SELECT count(*) FROM dup_changed")
        report.changed = cursor.fetchone()[0]
        cursor.execute(
            "CREATE TEMP TABLE dup_found "
            "(low uuid, high uuid, score numeric, reasons jsonb, batch int, PRIMARY KEY (low, high))"
        )
        clock.total = report.changed
        for start in range(0, report.changed, BATCH):
            with transaction.atomic():
                new, updated, graded = _scan_batch(cursor, src, start, start + BATCH)
            report.new += new
            report.updated += updated
            report.graded += graded
            clock.advance(min(BATCH, report.changed - start))
        clock.done()
        cursor.execute("ANALYZE dup_found")
        with transaction.atomic():
            cursor.execute(
                f"""
                UPDATE {src.pair_table} d SET status = 'closed', updated_at = now()
                 WHERE d.status = 'open' AND (
                       NOT EXISTS (SELECT 1 FROM dup_src v WHERE v.id = d.{src.low})
                    OR NOT EXISTS (SELECT 1 FROM dup_src v WHERE v.id = d.{src.high})
                    -- EXISTS, one index probe each: "IN (SELECT id FROM dup_changed)" was planned as a linear
                    -- search of the changed ids per pair (4.5 minutes for 4,272 pairs after a full run at 1M).
                    OR ((EXISTS (SELECT 1 FROM dup_changed c WHERE c.id = d.{src.low})
                         OR EXISTS (SELECT 1 FROM dup_changed c WHERE c.id = d.{src.high}))
                        AND NOT EXISTS (SELECT 1 FROM dup_found f WHERE f.low = d.{src.low} AND f.high = d.{src.high})))
                """
            )
            report.closed = cursor.rowcount
            cursor.execute(
                f"SELECT count(*) FROM dup_found f JOIN {src.pair_table} d "
                f"ON d.{src.low} = f.low AND d.{src.high} = f.high WHERE d.status = 'not_duplicate'"
            )
            report.not_duplicate_kept = cursor.fetchone()[0]
            report.seconds = (timezone.now() - started).total_seconds()
            DuplicateScan.objects.update_or_create(
                program=src.program,
                defaults={"scanned_up_to": started, "finished_at": timezone.now(), "report": report.as_dict()},
            )
        cursor.execute("DROP TABLE IF EXISTS dup_src, dup_changed, dup_found")
    return report


def _scan_batch(cursor, src: DuplicateSource, start: int, stop: int) -> tuple[int, int, int]:
    """Grade the changed records numbered (start, stop]: returns (new pairs, rescored pairs, graded pairs)."""
    # A pair of two changed records is graded once, from its lower id (b.changed: b is in dup_changed).
    branches = " UNION ".join(
        f"SELECT a.id AS a_id, b.id AS b_id FROM batch a JOIN dup_src b ON {block}" for block in _TABLE_BLOCKS
    )
    cursor.execute(
        f"""
        WITH batch AS MATERIALIZED (
            SELECT v.* FROM dup_src v JOIN dup_changed c ON c.id = v.id
             WHERE c.rn > %(start)s AND c.rn <= %(stop)s
        ), keys AS ({branches})
        INSERT INTO dup_found (low, high, score, reasons, batch)
        SELECT DISTINCT ON (least(a.id, b.id), greatest(a.id, b.id))
               least(a.id, b.id), greatest(a.id, b.id), s.score, s.reasons, %(start)s
          FROM keys k
          JOIN batch a ON a.id = k.a_id
          JOIN dup_src b ON b.id = k.b_id
          {_GRADE}
         WHERE b.id <> a.id AND s.score >= %(propose)s
           AND (a.id < b.id OR NOT EXISTS (SELECT 1 FROM dup_changed c WHERE c.id = b.id))
         ORDER BY least(a.id, b.id), greatest(a.id, b.id)
        ON CONFLICT DO NOTHING
        RETURNING low
        """,
        {"start": start, "stop": stop, "propose": PROPOSE},
    )
    graded = cursor.rowcount
    cursor.execute(
        f"""
        WITH written AS (
            INSERT INTO {src.pair_table} AS d ({src.low}, {src.high}, score, reasons, status, found_at, updated_at)
            SELECT f.low, f.high, f.score, f.reasons, 'open', now(), now()
              FROM dup_found f
             WHERE f.batch = %(start)s
            ON CONFLICT ({src.low}, {src.high}) DO UPDATE
               SET score = EXCLUDED.score, reasons = EXCLUDED.reasons, status = 'open', updated_at = now()
             WHERE d.status IN ('open', 'closed')
               AND (d.score, d.reasons, d.status) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.reasons, 'open')
            RETURNING (d.xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
        """,
        {"start": start},
    )
    new, updated = cursor.fetchone()
    return new, updated, graded


def pair_mark_not_duplicate(src: DuplicateSource, model, *, one, other, actor):
    """Store the decision "not the same person" on the pair (``one``, ``other``) of ``model`` (the pair table of
    ``src``), creating the row when the finder had not proposed it. The row is kept for good: the finder never
    reopens it. A merged pair cannot be undecided here; deciding a decided pair again changes nothing.
    The caller holds the transaction and the audit context."""
    from django.core.exceptions import ValidationError

    from common.errors import ConflictError

    if one.pk == other.pk:
        raise ValidationError({"other": "A record cannot be a duplicate of itself."})
    low, high = sorted((one, other), key=lambda record: record.pk)
    low_field, high_field = src.low.removesuffix("_id"), src.high.removesuffix("_id")
    score, reasons = grade_pair(src, low.pk, high.pk)
    pair, created = model.objects.select_for_update().get_or_create(
        **{low_field: low, high_field: high},
        defaults={
            "score": score,
            "reasons": reasons,
            "status": "not_duplicate",
            "decided_by": actor,
            "decided_at": timezone.now(),
        },
    )
    if created or pair.status == "not_duplicate":
        return pair
    if pair.status == "merged":
        raise ConflictError(
            "These two records were merged; undo the merge instead.", existing_id=pair.pk, field="other"
        )
    pair.status, pair.decided_by, pair.decided_at = "not_duplicate", actor, timezone.now()
    pair.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    return pair


def pair_mark_merged(src: DuplicateSource, model, merger, *, survivor_pk, duplicate_pk, actor) -> None:
    """A merge decides the pair: an existing pair row of the two records becomes ``merged`` (through the merge's
    own ``set`` step, so undoing the merge puts its status back). No row is made when the finder had none."""
    low, high = sorted((survivor_pk, duplicate_pk))
    pair_id = model.objects.filter(**{src.low: low, src.high: high}).values_list("pk", flat=True).first()
    if pair_id is not None:
        merger.set(model, pair_id, status="merged", decided_by=actor, decided_at=timezone.now())
