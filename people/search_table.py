"""person_search: the searched name-ordered lists' candidates, read from a narrow table in name order.

The table (``people.models.PersonSearch``, migration ``people/0020_person_search_table``) holds one row per
Person: ``last_name``, ``first_name`` (the persons', patients', leads' and physicians' order) and the three search
keys (``first_name_key``, ``last_name_key``, ``email_key``: ``lower(crm_unaccent(x))``), filled in name order and
kept by statement-level triggers on ``person``.

Why (docs/PERFORMANCE.md, "Search", "Round 4"): at 1M persons a common surname ("smith", 30,746 persons) lies on
nearly every page of ``person``: sorting its matches there read the whole table (300-340 ms for page 1). In
``person_search`` the same matches sit on a few hundred consecutive pages, so finding them and keeping the first
ones in name order is cheap; the list then reads only its page's rows.

How a page is read (``page_rows``), for a list searched on a Person's names / email only and ordered by that
Person's ``last_name, first_name`` first (ascending), whatever follows:

1. Candidates: the persons matching the same words on the same keys (``common.search``'s own conditions), in
   name order, a batch at a time: first by walking ``person_search_order_idx`` over at most ``WALK_ROWS`` rows
   (matches spread along the order, "jo", fill a batch at once), else by collecting the matches from the
   trigram / prefix indexes and sorting them (matches gathered in one place, "smith").
2. Each batch is checked against the list's own queryset (its scope, soft-deleted rows, filters and the search
   itself) by key: the rows that pass, in candidate order, until ``stop`` rows passed and the boundary name
   (``last_name, first_name``) is complete.
3. Every row of the list whose name sorts before the boundary, and every one with it, is then among those
   collected: the page is those rows in the list's own ORDER BY, cut ``[start:stop]`` by PostgreSQL (so the
   tie-breakers, collation and direction of the rest of the ordering are the list's own).

The result is the same rows in the same order as ``queryset[start:stop]`` as long as the table agrees with
``person`` (the triggers see to it; ``manage.py person_search --check`` compares them). Anything else (another
order, a field off the Person, a phone word, a deep page, too many rounds) returns None: the caller reads the
page the old way.
"""

from __future__ import annotations

import uuid

from django.db import connections, models
from django.db.models import F, Func, QuerySet
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.db.models.sql.where import WhereNode

# Whether the searched lists read through the table (tests turn it off to compare with the other path).
ENABLED = True
# Walk at most this many rows of the order index for one batch of candidates before sorting the matches instead
# (a walk of 20,000 narrow rows in order: a few ms; a common surname is not met that early, a common prefix is).
WALK_ROWS = 20_000
# A page deeper than this many rows reads the old way (the candidates would be collected from the start).
MAX_STOP = 1_000
# Batches of candidates per page before giving up: the first of ``2 * stop + FIRST_BATCH_EXTRA`` (a patients list
# keeps about half of the persons), each next one as large as the rows that passed so far say is needed (at least
# ``BATCH_GROWTH`` times the previous one). A list that keeps so few candidates (a navigator's own patients) that
# more than ``MAX_CANDIDATES`` would be needed reads the old way at once: checking them all would cost more.
MAX_ROUNDS = 4
FIRST_BATCH_EXTRA = 50
BATCH_GROWTH = 4
MAX_CANDIDATES = 5_000
# The search keys the table holds, by Person field.
KEYS = {"first_name": "first_name_key", "last_name": "last_name_key", "email": "email_key"}
_ORDER = "last_name, first_name, person_id"


def _order_path(term) -> str | None:
    """The ORM path of an ascending ORDER BY term (``person__last_name``), None for anything else."""
    if isinstance(term, str):
        return term.lstrip("+") if not term.startswith("-") and term != "?" and "." not in term else None
    if not isinstance(term, OrderBy) or term.descending or term.nulls_first:
        return None
    expression = term.expression
    if isinstance(expression, Coalesce):
        # common.search.sort_matches writes the first term COALESCE(x, x): the same order.
        first, second = expression.source_expressions
        expression = first if isinstance(first, F) and isinstance(second, F) and first.name == second.name else None
    return expression.name if isinstance(expression, F) else None


def _person_path(queryset: QuerySet) -> str | None:
    """``""`` for persons, ``"person"`` for a model whose ``person`` is a key to Person; None otherwise."""
    from people.models import Person

    model = queryset.model
    if model is Person:
        return ""
    try:
        field = model._meta.get_field("person")
    except Exception:
        return None
    if (field.many_to_one or field.one_to_one) and field.related_model is Person and field.concrete:
        return "person"
    return None


def _conditions(queryset: QuerySet, relation: str):
    """The search's conditions rewritten on person_search (a Q), None when the search reaches anything else."""
    from common.search import SEARCH_SPEC, _Field, _match

    spec = getattr(queryset.query, SEARCH_SPEC, None)
    if not spec:
        return None
    fields, words = spec
    prefix = f"{relation}__" if relation else ""
    result = None
    for word in words:
        word_condition = None
        for field in fields:
            name = field.path[len(prefix) :] if field.path.startswith(prefix) else None
            if field.kind == "phone" and field.relation == relation:
                if _match(field, word) is not None:
                    return None  # a phone word: the table has no phones (and the phone index finds few)
                continue
            if field.relation != relation or name not in KEYS or field.kind != "text" or field.key is None:
                return None
            on_table = _Field(name, "", "text", field.mode, False, KEYS[name])
            condition = _match(on_table, word)
            word_condition = condition if word_condition is None else word_condition | condition
        if word_condition is None:
            return None
        result = word_condition if result is None else result & word_condition
    return result


def eligible(queryset: QuerySet):
    """(relation, conditions on person_search) when ``page_rows`` can read this list's pages, else None."""
    query = queryset.query
    if query.is_empty() or query.combinator:
        return None
    relation = _person_path(queryset)
    if relation is None:
        return None
    ordering = list(query.order_by or (queryset.model._meta.ordering if query.default_ordering else ()))
    prefix = f"{relation}__" if relation else ""
    if len(ordering) < 2 or [_order_path(t) for t in ordering[:2]] != [f"{prefix}last_name", f"{prefix}first_name"]:
        return None
    conditions = _conditions(queryset, relation)
    if conditions is None:
        return None
    return relation, conditions


class _Candidates:
    """The persons matching the search, in name order, a batch at a time (``next``)."""

    def __init__(self, conditions, using: str):
        from people.models import PersonSearch

        query = PersonSearch.objects.using(using).filter(conditions).query
        compiler = query.get_compiler(using)
        where, params = compiler.compile(query.where)
        self.where, self.params = where, list(params)
        self.using = using
        self.after: tuple | None = None
        self.done = False

    def next(self, size: int) -> list[tuple]:
        """Up to ``size`` candidates after the last one returned: (person_id, last_name, first_name).

        One statement: the walk (the next ``WALK_ROWS`` rows in name order, in a subquery with LIMIT so that the
        search is not pushed into it; the matches among them), and only when it found fewer than ``size``, the
        matches collected from the search indexes and sorted (COALESCE hides the order index from the planner,
        as in ``common.search.sort_matches``). The second branch's condition is an InitPlan: not run at all when
        the walk was enough."""
        if self.done:
            return []
        after, after_params = "", []
        if self.after is not None:
            after, after_params = f"AND ({_ORDER}) > (%s, %s, %s)", [self.after[1], self.after[2], self.after[0]]
        sql = (
            f"WITH walked AS ("
            f"  SELECT person_id, last_name, first_name FROM ("
            f"    SELECT * FROM person_search WHERE true {after} ORDER BY {_ORDER} LIMIT %s"
            f"  ) person_search WHERE {self.where} ORDER BY {_ORDER} LIMIT %s"
            f") "
            f"SELECT * FROM ("
            f"  SELECT * FROM walked WHERE (SELECT count(*) FROM walked) >= %s"
            f"  UNION ALL ("
            f"    SELECT person_id, last_name, first_name FROM person_search"
            f"    WHERE (SELECT count(*) FROM walked) < %s AND ({self.where}) {after}"
            f"    ORDER BY COALESCE(last_name, last_name), first_name, person_id LIMIT %s"
            f"  )"
            f") person_search ORDER BY {_ORDER}"
        )
        params = [*after_params, WALK_ROWS, *self.params, size, size, size, *self.params, *after_params, size]
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if len(rows) < size:
            self.done = True
        if rows:
            self.after = rows[-1]
        return rows


class _AmongKeys(Func):
    """``<person key> = ANY(ARRAY(SELECT unnest(<uuids>)))``: the rows of these persons. Written so (an InitPlan
    of unknown length, as ``common.db.pk_in_array``) the planner fetches the candidates by key and tests the rest of
    the list's WHERE on them, instead of combining the key index with the search's own indexes (a bitmap of every
    "nguye" of the table: 29 ms against a few for 150 key probes)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, field: str, keys: list):
        super().__init__(F(field))
        self.keys = keys

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(ARRAY(SELECT unnest(%s::uuid[])))", (*params, self.keys)


def page_rows(queryset: QuerySet, start: int, stop: int, begin: tuple | None = None) -> list | None:
    """``list(queryset[start:stop])`` found through person_search (see the module docstring), or None when this
    list cannot be read that way. ``begin`` = (last_name, first_name): the list's rows start there (a cursor's
    window), so the candidates do too. The paginators ask only when the matches passed the count's cap
    (``common.search.SEARCH_COUNT_CAP``): up to 1,000 counted matches are sorted cheaper where they are (a full
    name's 125: 16 ms against 30 ms here), and a list that keeps few of the search's matches (a navigator's own
    patients) would check many candidates for nothing."""
    if not ENABLED or stop <= start or stop > MAX_STOP:
        return None
    plan = eligible(queryset)
    if plan is None:
        return None
    relation, conditions = plan
    candidates = _Candidates(conditions, queryset.db)
    if begin is not None:
        candidates.after = (uuid.UUID(int=0), begin[0], begin[1])
    link = f"{relation}_id" if relation else "pk"
    checked = queryset.order_by().values_list("pk", link)
    collected: list = []
    boundary = None
    size = 2 * stop + FIRST_BATCH_EXTRA
    seen = 0
    for _ in range(MAX_ROUNDS):
        batch = candidates.next(size)
        seen += len(batch)
        if batch:
            passing: dict = {}
            for pk, person_id in checked.filter(_AmongKeys(link, [row[0] for row in batch])):
                passing.setdefault(person_id, []).append(pk)
            for person_id, last_name, first_name in batch:
                if boundary is not None and (last_name, first_name) != boundary:
                    return _page(queryset, collected, start, stop)
                collected.extend(passing.get(person_id, ()))
                if boundary is None and len(collected) >= stop:
                    boundary = (last_name, first_name)
        if candidates.done:
            return _page(queryset, collected, start, stop)
        # At the rate rows passed so far, how many more candidates the page needs (plus a margin).
        needed = (stop - len(collected)) * seen / max(len(collected), 1) * 1.5 if boundary is None else size
        if seen + needed > MAX_CANDIDATES:
            return None
        size = max(size * BATCH_GROWTH, int(needed))
    return None


def _page(queryset: QuerySet, collected: list, start: int, stop: int) -> list:
    """Rows ``[start:stop]`` of ``queryset`` among ``collected`` (every row of it up to the boundary name): cut
    in the list's own ORDER BY, sorted rather than walked (a few hundred rows at most)."""
    from common.search import sort_matches

    if not collected:
        return []
    rows = queryset.all()
    if rows.query.group_by is None:
        # The collected keys passed the WHERE already (scope, filters, search): the page reads them by key.
        rows.query.where = WhereNode()
        rows.query.distinct = False
    return list(sort_matches(rows).filter(pk__in=collected)[start:stop])


# --- Check and repair ------------------------------------------------------------------------------------

_COLUMNS = "person_id, last_name, first_name, first_name_key, last_name_key, email_key"
_FROM_PERSON = "SELECT id, last_name, first_name, first_name_key, last_name_key, email_key FROM person"
INDEXES = (
    "person_search_order_idx",
    "person_search_first_name_trgm",
    "person_search_last_name_trgm",
    "person_search_email_trgm",
    "person_search_first_name_prefix",
    "person_search_last_name_prefix",
    "person_search_email_prefix",
)
TRIGGERS = (
    ("person_search_insert", "person"),
    ("person_search_update", "person"),
    ("person_search_delete", "person"),
    ("person_search_truncate", "person"),
)


def mismatches(using: str = "default") -> tuple[int, int]:
    """(rows of person_search that person does not have, rows of person that person_search does not have)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {_COLUMNS} FROM person_search EXCEPT {_FROM_PERSON}) a),"
            f" (SELECT count(*) FROM ({_FROM_PERSON} EXCEPT SELECT {_COLUMNS} FROM person_search) b)"
        )
        stored_only, fresh_only = cursor.fetchone()
    return stored_only, fresh_only


def rebuild(using: str = "default") -> int:
    """Fill person_search again from person, in name order (its indexes dropped and built again afterwards),
    in one transaction that locks person against writes; returns the rows written. ANALYZEs the table."""
    from django.db import transaction

    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE person IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'person_search'::regclass AND NOT indisprimary"
        )
        definitions = cursor.fetchall()
        for name, _ in definitions:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("TRUNCATE person_search")
        cursor.execute(f"INSERT INTO person_search ({_COLUMNS}) {_FROM_PERSON} ORDER BY last_name, first_name, id")
        written = cursor.rowcount
        for _, definition in definitions:
            cursor.execute(definition)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE person_search")
    return written


def switch_triggers(action: str, using: str = "default") -> None:
    """``ENABLE`` / ``DISABLE`` the triggers that keep person_search (bench.generate loads without them, then
    ``rebuild``s)."""
    with connections[using].cursor() as cursor:
        for trigger, table in TRIGGERS:
            cursor.execute(f'ALTER TABLE "{table}" {action} TRIGGER "{trigger}"')
