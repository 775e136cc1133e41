"""The search box: what users type to find people (names, emails, phones), one implementation for the admin
(``CrmModelAdmin.get_search_results``) and the API (``common.api.search.CrmSearchFilter``).

What matches (Django's own rules, made accent- and case-insensitive):

* The term is split into words (quotes keep a phrase together). Every word must match at least one of the
  search fields: AND across words, OR across fields.
* The text columns that have search indexes (``search_indexes`` in the model's ``Meta.indexes``: a person's
  names and email, a canonical patient's names...) are compared as ``lower(crm_unaccent(x))`` on both sides
  (``SearchKey``), so "jose" finds "José" and "MULL" finds "Müller", and the other way round. A word of 3 or
  more characters matches anywhere in them (``contains``, a trigram GIN index); a shorter word matches from
  the start (``startswith``): trigram indexes cannot serve 1-2 characters, a btree ``text_pattern_ops``
  index on the same expression can. Where the model stores that expression in a generated column
  (``search_key_field``: a person's names and email), the column is compared instead, and the indexes are on it
  (``stored_search_indexes``): the same text, read instead of computed on every candidate row.
* Other text columns (identifiers on small tables, a lookup's name) keep Django's ``icontains``: without an
  index, ``crm_unaccent`` on every row costs ~5 us against ~1 us for ``upper()``, so the index decides.
* ``Person.phone`` is stored in E.164 (+18015550123, a CHECK constraint), and so is a CM profile's phone (its
  services normalise it; ``E164_PHONES``), so a word is compared with them on its digits only: "(801) 555-0123"
  finds +18015550123. A term that looks like a phone number as a whole ("801 555 0123") is one word, not three.
  Words without digits (or with fewer than 3) skip the phone.
* Fields of other types (ids, numbers) keep Django's ``icontains`` too.

Why the query has the shape it has: PostgreSQL combines the indexes of one table with a BitmapOr, but an OR
across two tables (a patient's person name OR the call's own notes) defeats every index and scans the big
table. So the fields of each word are grouped by the relation they live on; a word whose fields are all on
one to-one chain (``person__first_name``, ``person__email``) filters the joined row directly, and one whose
fields span several relations (or a to-many relation) becomes ``pk IN (SELECT ... UNION SELECT ...)`` with one
indexable branch per relation. Scope filters of the queryset are never touched: search only narrows it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.postgres.indexes import OpClass
from django.core.exceptions import FieldDoesNotExist
from django.db import OperationalError, connections, models, transaction
from django.db.models import F, Func, Q, QuerySet, TextField, Value
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.db.models.lookups import Contains, Exact, StartsWith
from django.db.models.sql.where import WhereNode
from django.utils.text import smart_split, unescape_string_literal

# A searched list counts its matches exactly up to this many (the admin's and the API's paginators); past it the
# admin says "more than 1000" and the API gives the planner's estimate (``count_is``). Counting up to 10,000
# joined matches cost 300-570 ms for "johnson" on the calls; 1,001 cost 15-60 ms (docs/PERFORMANCE.md, "Search").
SEARCH_COUNT_CAP = 1_000
# A searched page sorts its matches instead of walking the list's order index (``sort_matches``) when they were
# counted exactly, or when PostgreSQL expects at most this many. Its estimates of trigram matches run 1.5-3x
# high (10,228 for 6,193 persons "smith"; 27,295 for 9,940 calls "martine"): 30,000 keeps the sort for a
# bounded ~10,000-20,000 real matches, and leaves the walk to searches that match many rows spread along it.
SORT_MATCHES_MAX_ESTIMATE = 30_000
# A searched page with more matches than that, on a list whose order follows its search, first walks the order
# index for at most this long, then sorts the matches instead (``fetch_searched_rows``).
WALK_BUDGET_MS = 150
# A word whose fields span several tables is matched by a UNION of one query per table (``_word_condition``). Its
# keys are collected once, when the list is searched, and the list compares its rows with them: the paginator's
# capped count and the page's keys then read the matching rows by key instead of running the union twice
# (docs/PERFORMANCE.md, "Searched journey lists"). Past this many matches the union stays a subquery.
MATCHED_KEYS_MAX = 20_000
# Set on the query of a searched queryset (``Query.clone`` copies it through later filters and orderings).
_SEARCHED = "crm_searched"
# Set there too: (the resolved fields, the words), for a search table to run the same search (people.search_table).
SEARCH_SPEC = "crm_search_spec"
# Words shorter than this match from the start of a field (trigram indexes need 3 characters).
CONTAINS_MIN_LENGTH = 3
# A search term made only of what people type in phone numbers: "(801) 555-0123", "+1 801 555 0123".
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{4,}$")
_NOT_DIGIT = re.compile(r"\D")
# Phone columns stored in E.164 (+18015550123), searched on the digits typed (a trigram GIN index on the column):
# Person.phone (a CHECK constraint) and the CM profile's phone (its services store it normalised).
E164_PHONES = frozenset({"people.person.phone", "cm_program.cmpatient.phone"})
_TEXT_FIELDS = (models.CharField, models.TextField)  # EmailField, SlugField, URLField are CharFields


class SearchKey(Func):
    """``lower(crm_unaccent(x))``: how searched text is compared. The search indexes are built on exactly this
    expression (``search_indexes``), so a query written with it can use them. ``crm_unaccent`` is the
    IMMUTABLE wrapper of ``unaccent`` (``common/migrations/0001_extensions.py``)."""

    template = "lower(crm_unaccent(%(expressions)s))"
    arity = 1
    output_field = TextField()


def search_key(expression) -> SearchKey:
    return SearchKey(expression)


def search_key_field(column: str) -> models.GeneratedField:
    """A stored generated column holding ``search_key(column)``: the column's text as the search compares it,
    computed by PostgreSQL on every INSERT and UPDATE (the ORM's, a bulk ``update()``, a merge, raw SQL), so it
    is never stale. Name it ``<column>_key``: its search indexes (``stored_search_indexes``) are on it, so
    PostgreSQL's recheck of a trigram candidate is a plain ``LIKE`` on the stored text instead of
    ``crm_unaccent`` run again on every candidate row (docs/PERFORMANCE.md, "Search", "Round 3")."""
    return models.GeneratedField(
        expression=SearchKey(F(column)),
        output_field=TextField(),
        db_persist=True,
        help_text=f"lower(crm_unaccent({column})), kept by PostgreSQL: what the search box compares.",
    )


def search_indexes(name: str, *columns: str, prefix: bool = True) -> list[models.Index]:
    """The indexes that serve the search of ``columns`` (for a model's ``Meta.indexes``; ``name`` starts
    their names): a trigram GIN index on ``search_key(column)`` for words of 3+ characters and (``prefix``)
    a btree ``text_pattern_ops`` index on it for shorter ones."""
    from django.contrib.postgres.indexes import GinIndex

    indexes: list[models.Index] = []
    for column in columns:
        key = SearchKey(column)
        indexes.append(GinIndex(OpClass(key, name="gin_trgm_ops"), name=f"{name}_{column}_trgm"))
        if prefix:
            indexes.append(models.Index(OpClass(key, name="text_pattern_ops"), name=f"{name}_{column}_prefix"))
    return indexes


def stored_search_indexes(name: str, *columns: str, prefix: bool = True) -> list[models.Index]:
    """``search_indexes`` for columns whose key is stored by ``search_key_field`` in ``<column>_key``, on that
    column (the same names: ``<name>_<column>_trgm``, ``<name>_<column>_prefix``): a trigram GIN index for words
    of 3+ characters and (``prefix``) a btree ``text_pattern_ops`` index for shorter ones."""
    from django.contrib.postgres.indexes import GinIndex

    indexes: list[models.Index] = []
    for column in columns:
        key = f"{column}_key"
        indexes.append(GinIndex(fields=[key], opclasses=["gin_trgm_ops"], name=f"{name}_{column}_trgm"))
        if prefix:
            indexes.append(models.Index(fields=[key], opclasses=["text_pattern_ops"], name=f"{name}_{column}_prefix"))
    return indexes


def search_words(term: str) -> list[str]:
    """The words of a search term, as Django's admin splits them (quotes keep a phrase; NUL characters,
    which PostgreSQL refuses in text, are dropped). A term that looks like a phone number is one word."""
    term = (term or "").replace("\x00", "").strip()
    if not term:
        return []
    if PHONE_LIKE.match(term) and len(_NOT_DIGIT.sub("", term)) >= 4:
        return [term]
    words = []
    for bit in smart_split(term):
        if bit[:1] in ('"', "'") and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        bit = bit.strip()
        if bit:
            words.append(bit)
    return words


@dataclass(frozen=True)
class _Field:
    path: str  # the ORM path, e.g. "patient__person__last_name"
    relation: str  # the relation it lives on, e.g. "patient__person" ("" for the model's own fields)
    kind: str  # "text", "phone" or "other"
    mode: str  # "contains", "startswith" or "exact" (admin prefixes "^" and "=")
    to_many: bool  # reached through a to-many relation (a direct filter could duplicate rows)
    key: str | None = None  # the ORM path of its stored search key (``search_key_field``), e.g. "person__last_name_key"


@functools.cache
def _stored_keys(model: type[models.Model]) -> dict[str, str]:
    """The columns of ``model`` whose search key is stored (``search_key_field``): column -> the key field's name."""
    keys = {}
    for field in model._meta.concrete_fields:
        expression = getattr(field, "expression", None) if getattr(field, "generated", False) else None
        if isinstance(expression, SearchKey) and isinstance(expression.source_expressions[0], F):
            keys[model._meta.get_field(expression.source_expressions[0].name).column] = field.name
    return keys


@functools.cache
def _searchable_columns(model: type[models.Model]) -> frozenset[str]:
    """The columns of ``model`` searched on ``search_key``: those with a ``search_indexes`` trigram index, and
    those whose key is stored (``search_key_field``, indexed by ``stored_search_indexes``)."""
    columns = set(_stored_keys(model))
    for index in model._meta.indexes:
        for expression in index.expressions:
            inner = expression.source_expressions[0] if isinstance(expression, OpClass) else expression
            if isinstance(inner, SearchKey) and isinstance(inner.source_expressions[0], F):
                columns.add(model._meta.get_field(inner.source_expressions[0].name).column)
    return frozenset(columns)


def _resolve(model: type[models.Model], spec: str) -> _Field:
    mode = "contains"
    if spec[:1] == "^":
        mode, spec = "startswith", spec[1:]
    elif spec[:1] == "=":
        mode, spec = "exact", spec[1:]
    parts = spec.split(LOOKUP_SEP)
    opts, field, to_many = model._meta, None, False
    for part in parts:
        try:
            field = opts.get_field(opts.pk.name if part == "pk" else part)
        except FieldDoesNotExist:
            return _Field(spec, LOOKUP_SEP.join(parts[:-1]), "other", mode, to_many)
        if field.is_relation and hasattr(field, "path_infos"):
            to_many = to_many or field.many_to_many or field.one_to_many
            opts = field.path_infos[-1].to_opts
    key = None
    if field is not None and f"{field.model._meta.label_lower}.{field.name}" in E164_PHONES:
        kind = "phone"
    elif isinstance(field, _TEXT_FIELDS) and field.column in _searchable_columns(field.model):
        kind = "text"
        stored = _stored_keys(field.model).get(field.column)
        key = LOOKUP_SEP.join([*parts[:-1], stored]) if stored else None
    else:
        kind = "other"
    return _Field(spec, LOOKUP_SEP.join(parts[:-1]), kind, mode, to_many, key)


def _match(field: _Field, word: str) -> Q | None:
    """The condition under which ``word`` matches ``field`` (None: it cannot match this field)."""
    if field.kind == "phone":
        digits = _NOT_DIGIT.sub("", word)
        if len(digits) < CONTAINS_MIN_LENGTH:
            return None
        return Q(**{f"{field.path}__contains": digits})
    if field.kind == "other":
        lookup = {"contains": "icontains", "startswith": "istartswith", "exact": "iexact"}[field.mode]
        return Q(**{f"{field.path}__{lookup}": word})
    # The stored key is the same text as ``search_key`` of the column, read instead of computed (``search_key_field``).
    column = F(field.key) if field.key else SearchKey(field.path)
    wanted = SearchKey(Value(word, output_field=TextField()))
    if field.mode == "exact":
        return Q(Exact(column, wanted))
    if field.mode == "startswith" or len(word) < CONTAINS_MIN_LENGTH:
        return Q(StartsWith(column, wanted))
    return Q(Contains(column, wanted))


def _or(conditions: Iterable[Q]) -> Q:
    result = Q()
    for condition in conditions:
        result |= condition
    return result


def _word_condition(queryset: QuerySet, fields: Sequence[_Field], word: str) -> Q | None:
    groups: dict[str, list[Q]] = {}
    to_many = False
    for field in fields:
        condition = _match(field, word)
        if condition is not None:
            groups.setdefault(field.relation, []).append(condition)
            to_many = to_many or field.to_many
    if not groups:
        return None
    if len(groups) == 1 and not to_many:
        return _or(next(iter(groups.values())))
    # One branch per relation, each able to use its own indexes; the model's default manager would hide
    # rows the outer queryset may show (soft-deleted ones), so the branches read the base manager.
    base = queryset.model._base_manager.using(queryset.db)
    branches = [base.filter(_or(conditions)).order_by().values_list("pk", flat=True) for conditions in groups.values()]
    union = branches[0].union(*branches[1:]) if len(branches) > 1 else branches[0]
    keys = list(union[: MATCHED_KEYS_MAX + 1])
    if len(keys) > MATCHED_KEYS_MAX:
        # Too many to carry as a literal: the list compares with the union itself (run for the count and again
        # for the page, as before).
        return Q(pk__in=union)
    return Q(_KeyIn(keys))


class _KeyIn(Func):
    """``pk = ANY(<keys>)``: the row's key among ``keys`` (a list of the model's keys, sent as one array
    literal, so the planner knows how many there are and fetches them by key)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, keys: list):
        super().__init__(F("pk"))
        self.keys = keys

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(%s)", (*params, self.keys)


def search(queryset: QuerySet, search_fields: Sequence[str], term: str) -> QuerySet:
    """``queryset`` narrowed to the rows matching ``term`` on ``search_fields`` (see the module docstring).
    An empty term, or no fields, returns ``queryset`` unchanged; a word that no field can match (a 2-digit
    number on a phone-only search) matches nothing."""
    words = search_words(term)
    if not words or not search_fields:
        return queryset
    fields = [_resolve(queryset.model, str(spec)) for spec in search_fields]
    for word in words:
        condition = _word_condition(queryset, fields, word)
        queryset = queryset.none() if condition is None else queryset.filter(condition)
    # The searched paths (truthy): ``fetch_searched_rows`` compares them with the list's order. queryset is a
    # clone made by filter()/none() above.
    setattr(queryset.query, _SEARCHED, frozenset(field.path for field in fields))
    setattr(queryset.query, SEARCH_SPEC, (tuple(fields), tuple(words)))
    return queryset


def is_searched(queryset) -> bool:
    """Whether ``queryset`` was narrowed by ``search`` (through any later filter or ordering)."""
    return bool(getattr(getattr(queryset, "query", None), _SEARCHED, False))


def planner_rows(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows of ``queryset`` (an ``EXPLAIN``, no rows read); None if unknown."""
    import json

    from django.db import connections

    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def matches_are_few(*, exact: bool, estimate: int | None) -> bool:
    """Whether a searched page should sort its matches (``sort_matches``): they were counted exactly (at most
    ``SEARCH_COUNT_CAP``), or the planner expects at most ``SORT_MATCHES_MAX_ESTIMATE``."""
    return exact or (estimate is not None and estimate <= SORT_MATCHES_MAX_ESTIMATE)


def sort_matches(queryset: QuerySet) -> QuerySet:
    """``queryset`` in the same order, written so that PostgreSQL sorts the rows that match instead of walking
    the list's order index: the first ORDER BY term ``x`` becomes ``COALESCE(x, x)`` (the same value, NULL
    included, in the same collation: the same rows in the same order), which no index provides.

    Why: a searched page 1 is ``WHERE <search> ORDER BY <list order> LIMIT 50``. The planner assumes the
    matches are spread evenly along the order index and walks it, testing the search on each row, expecting
    to stop after ``50 / selectivity`` rows. When the search and the order are correlated (the persons list is
    ordered by last name, "smith" matches last names near the end) it tests most of the table instead: 1.5 s
    for "smith" at 200,000 persons, against 60 ms to collect the 6,193 matches from the trigram indexes and
    keep the first 50 (docs/PERFORMANCE.md, "Search"). With few matches (known from
    the paginator's capped count, or from the planner's estimate past it: ``matches_are_few``) the sort is
    bounded; past it the matches are many and spread, and walking the order index stays the planner's choice."""
    query = queryset.query
    ordering = list(query.order_by or (queryset.model._meta.ordering if query.default_ordering else ()))
    if not ordering:
        return queryset
    first = ordering[0]
    if isinstance(first, str):
        if first == "?" or "." in first:
            return queryset
        first = OrderBy(F(first.lstrip("-+")), descending=first.startswith("-"))
    elif not isinstance(first, OrderBy):
        first = OrderBy(first) if hasattr(first, "resolve_expression") else None
    if first is None:
        return queryset
    expression = first.expression
    unindexed = OrderBy(
        Coalesce(expression, expression),
        descending=first.descending,
        nulls_first=first.nulls_first,
        nulls_last=first.nulls_last,
    )
    return queryset.order_by(unindexed, *ordering[1:])


def _cancelled(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL's ``query_canceled`` (SQLSTATE 57014: a statement timeout)."""
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "57014"


def _leading_order_path(queryset: QuerySet) -> str | None:
    """The ORM path of the first ORDER BY term (``person__last_name``), None for an expression."""
    query = queryset.query
    ordering = list(query.order_by or (queryset.model._meta.ordering if query.default_ordering else ()))
    if not ordering:
        return None
    first = ordering[0]
    if isinstance(first, str):
        return first.lstrip("-+")
    expression = getattr(first, "expression", first)
    return getattr(expression, "name", None) if isinstance(expression, F) else None


def order_follows_search(queryset: QuerySet) -> bool:
    """Whether the list is ordered by a field that its search compares (persons by last name, searched on
    last names): then the matches may sit together anywhere along the order index, not spread over it."""
    searched = getattr(queryset.query, _SEARCHED, None)
    leading = _leading_order_path(queryset)
    return isinstance(searched, frozenset) and leading is not None and leading in searched


def fetch_from_search_table(queryset: QuerySet, start: int, stop: int, begin: tuple | None = None) -> list | None:
    """``list(queryset[start:stop])`` for a searched list ordered by a Person's name and searched on its names and
    email, read through the narrow ``person_search`` table (``people.search_table.page_rows``: the matches in name
    order there, the page's rows only from the list); None when the list is not one of those (the caller reads
    the page the other way). The same rows in the same order (docs/PERFORMANCE.md, "Search", "Round 4"). The
    paginators ask for it only when the matches passed the count's cap (``SEARCH_COUNT_CAP``)."""
    from people.search_table import page_rows

    return page_rows(queryset, start, stop, begin)


def fetch_by_ids(queryset: QuerySet, start: int, stop: int) -> list:
    """``list(queryset[start:stop])`` in two steps: the page's keys by the search, the filters and the order
    alone, then those rows with everything the page shows (``select_related``, annotations) by key.

    Why: a searched list joins the rows it shows to their patient, person, journey, navigator ... With the
    search's ``pk IN (SELECT ... UNION ...)`` in the same statement, PostgreSQL expects thousands of matches
    and hash-joins every row of each joined table before it sorts and cuts the page: 11.5 s for the journey
    timeline searched for "smith" at 715,000 steps, where the keys alone take milliseconds to find and their
    50 rows one index probe each to join. The second statement drops the WHERE (the keys already passed
    it, scope included) and the order (the keys give it)."""
    return _rows_for(queryset, list(queryset.values_list("pk", flat=True)[start:stop]))


def _rows_for(queryset: QuerySet, keys: list) -> list:
    """The rows of ``keys`` (which passed ``queryset``'s WHERE), as ``queryset`` loads them, in that order."""
    if not keys:
        return []
    rows = queryset.all()
    if rows.query.group_by is None:
        # No aggregate over a join that the WHERE narrows (a GROUP BY): the keys alone decide the rows.
        rows.query.where = WhereNode()
        rows.query.distinct = False
    found = {row.pk: row for row in rows.order_by().filter(pk__in=keys)}
    return [found[key] for key in keys if key in found]


def fetch_searched_rows(queryset: QuerySet, start: int, stop: int) -> list:
    """``list(queryset[start:stop])`` for a searched list with many matches (not ``matches_are_few``)
    whose order follows its search (``order_follows_search``): the order-index walk first, for at most
    ``WALK_BUDGET_MS``, then the sorted matches. Other lists walk their order index as the planner chooses.

    Why: with many matches nobody can tell in advance which plan is fast. Spread matches ("jo" over a list
    ordered by last name) fill a page after a short walk of the order index, while sorting them would sort
    hundreds of thousands of rows; matches correlated with the order ("smith", which sits near the end of
    the last names) make the walk test most of the table (11 s at 1M persons) while sorting their 31,000
    rows takes a few hundred milliseconds. The walk is cancelled by a statement timeout local to a savepoint
    (nothing else of the request's transaction is touched, and the previous timeout is restored), and the
    page is then read the other way: the same rows in the same order either way, only the time differs.
    """
    if not order_follows_search(queryset):
        # Calls by date searched on their patients' names: the matches are spread along the order, the
        # planner's walk is right however long it takes (most of it heap fetches), and sorting every match
        # would cost more (50,000 calls for "johnson").
        return fetch_by_ids(queryset, start, stop)
    using = queryset.db
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{WALK_BUDGET_MS}ms"])
        try:
            with transaction.atomic(using=using):
                keys = list(queryset.values_list("pk", flat=True)[start:stop])
        except OperationalError as exc:
            if not _cancelled(exc):
                raise
            keys = None
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    if keys is None:
        return fetch_by_ids(sort_matches(queryset), start, stop)
    return _rows_for(queryset, keys)
