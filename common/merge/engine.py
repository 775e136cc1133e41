"""The generic merge: re-point every relation to a duplicate at its survivor, record it, undo it.

The relations come from the model graph (every concrete foreign key and one-to-one of every installed
model, auto-created M2M through tables included, and those to a multi-table child of the model), so a
relation added later is merged without a change here. Each one is either

* on the keep-list (``common.merge.keep``): left pointing at the duplicate;
* handled by a clash rule that the caller passes (``rules``, keyed ``"app_label.Model.field"``):
  the domain's written-down answer to a unique rule that a plain move would break;
* or moved by one set-based ``UPDATE ... RETURNING`` inside a savepoint. A one-to-one that both
  records hold, or a unique rule that the move breaks, refuses the whole merge naming the relation
  (nothing is written): adding a clash rule is then a decision for a person, not a guess.

Every write is a *step* of the ``Merger`` (a move of a set of rows, or one value set on one row), kept
in the merge log in order; ``undo_steps`` replays them backwards after checking that none changed since.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from common.db import constraint_name
from common.errors import ConflictError
from common.merge.keep import kept_because

# The reason written on a record that a merge soft-deleted; ``restore_row`` refuses such a record.
MERGED_REASON_PREFIX = "merged into #"
UNDO_BATCH = 10_000


class MergeRefused(ConflictError):
    """The two records cannot be merged (or the merge undone) safely; the message says what to do first."""

    code = "merge_refused"


@dataclass(frozen=True)
class Relation:
    """One foreign key (or one-to-one) of ``model`` that points at the merged model."""

    model: type[models.Model]
    field: models.ForeignKey

    @property
    def key(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"

    @property
    def label(self) -> str:
        """How a person counts these rows: "calls", "role periods" (the field when a model has two)."""
        meta = self.model._meta
        plural = str(meta.verbose_name_plural) if not meta.auto_created else meta.db_table
        if not plural.endswith("s"):  # "call history" counts calls
            plural = f"{meta.verbose_name}s"
        target = self.field.remote_field.model._meta.concrete_model
        siblings = [
            f for f in meta.local_fields if f.is_relation and f.remote_field.model._meta.concrete_model is target
        ]
        if len(siblings) == 1 or self.field.one_to_one:
            return plural
        return f"{plural} ({self.field.verbose_name})"

    @property
    def one_to_one(self) -> bool:
        return bool(self.field.one_to_one)


def relations_to(model: type[models.Model]) -> list[Relation]:
    """Every foreign key in the project that refers to ``model`` (or to a multi-table child of it)."""
    concrete = model._meta.concrete_model
    found = []
    for candidate in apps.get_models(include_auto_created=True):
        if candidate._meta.proxy:
            continue
        for fk in candidate._meta.local_fields:
            if not (fk.is_relation and (fk.many_to_one or fk.one_to_one)):
                continue
            target = fk.remote_field.model._meta.concrete_model
            if target is concrete or concrete in target._meta.get_parent_list():
                found.append(Relation(candidate, fk))
    return sorted(found, key=lambda r: r.key)


def jsonable(value: Any) -> Any:
    """A value as the merge log keeps it: exact (microseconds and time zones kept), JSON-safe."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    return value


def _python(model: type[models.Model], field_name: str, value: Any) -> Any:
    fld = model._meta.get_field(field_name)
    return None if value is None else fld.to_python(value)


# A clash rule: rule(merger, relation, survivor_pk, duplicate_pk) writes through the merger's steps.
Rule = Callable[["Merger", Relation, Any, Any], None]


@dataclass
class Merger:
    """One merge in progress: the survivor and duplicate keys, and the steps written so far."""

    model: type[models.Model]
    survivor_pk: Any
    duplicate_pk: Any
    rules: dict[str, Rule] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    left: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    # --- the two kinds of write ---------------------------------------------------------------------

    def move(
        self, relation: Relation, *, source: Any, target: Any, where: str = "", params: Iterable = ()
    ) -> list[str]:
        """Re-point the rows of ``relation`` that refer to ``source`` at ``target`` (one UPDATE).

        ``where`` narrows the rows (SQL on the referring table). A unique rule that the move breaks
        refuses the merge naming the relation, the rows untouched (savepoint)."""
        meta = relation.model._meta
        table, column, pk = (
            connection.ops.quote_name(n) for n in (meta.db_table, relation.field.column, meta.pk.column)
        )
        sql = f"UPDATE {table} SET {column} = %s WHERE {column} = %s {where} RETURNING {pk}"
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [target, source, *params])
                ids = [jsonable(row[0]) for row in cursor.fetchall()]
        except IntegrityError as exc:
            raise MergeRefused(
                f"The {relation.label} ({relation.key}) of the two records cannot be combined: "
                f"{_integrity_message(relation.model, exc)} Resolve that first, then merge."
            ) from exc
        if ids:
            self.steps.append(
                {
                    "kind": "move",
                    "model": meta.label,
                    "field": relation.field.name,
                    "table": meta.db_table,
                    "column": relation.field.column,
                    "ids": ids,
                    "from": jsonable(source),
                    "to": jsonable(target),
                }
            )
            self.summary[relation.label] = self.summary.get(relation.label, 0) + len(ids)
        return ids

    def set(self, model: type[models.Model], pk: Any, **values: Any) -> None:
        """Write ``values`` on one row in one UPDATE, keeping each old value (unchanged ones are skipped).
        The undo writes them back together too, so a rule spanning the columns holds both ways."""
        names = list(values)
        attnames = [model._meta.get_field(n).attname for n in names]
        current = model._base_manager.filter(pk=pk).values(*attnames).get()
        update, fields = {}, {}
        for name, attname in zip(names, attnames, strict=True):
            old, new = current[attname], values[name]
            if isinstance(new, models.Model):
                new = new.pk
            if jsonable(old) == jsonable(new):
                continue
            update[attname] = new
            fields[name] = {"column": model._meta.get_field(name).column, "old": jsonable(old), "new": jsonable(new)}
        if update:
            self.steps.append(
                {
                    "kind": "set",
                    "model": model._meta.label,
                    "table": model._meta.db_table,
                    "id": jsonable(pk),
                    "fields": fields,
                }
            )
            model._base_manager.filter(pk=pk).update(**update)

    def leave(self, relation: Relation, ids: Iterable, *, why: str) -> None:
        ids = [jsonable(i) for i in ids]
        if ids:
            self.left.append(
                {"model": relation.model._meta.label, "field": relation.field.name, "ids": ids, "why": why}
            )

    # --- the walk -----------------------------------------------------------------------------------

    def referring(self, relation: Relation, pk: Any) -> models.QuerySet:
        return relation.model._base_manager.filter(**{relation.field.attname: pk})

    def repoint_all(self, *, survivor_pk: Any = None, duplicate_pk: Any = None, model=None, rules=None) -> None:
        """Re-point every relation to ``model`` (the merged model unless given: a second-level merge)."""
        model = model or self.model
        survivor_pk = self.survivor_pk if survivor_pk is None else survivor_pk
        duplicate_pk = self.duplicate_pk if duplicate_pk is None else duplicate_pk
        rules = self.rules if rules is None else rules
        for relation in relations_to(model):
            if kept_because(relation.model, relation.field):
                continue
            rule = rules.get(relation.key)
            if rule is not None:
                rule(self, relation, survivor_pk, duplicate_pk)
                continue
            if relation.one_to_one and self.referring(relation, survivor_pk).exists():
                if self.referring(relation, duplicate_pk).exists():
                    raise MergeRefused(
                        f"Both records have a {relation.model._meta.verbose_name} ({relation.key}) and no rule "
                        "says how to combine two of them. Resolve one of them first, then merge."
                    )
                continue
            self.move(relation, source=duplicate_pk, target=survivor_pk)

    def merge_children(self, relation: Relation, survivor_pk: Any, duplicate_pk: Any, *, rules=None) -> None:
        """A second-level merge for a one-to-one that both records hold (two Patient rows of one human):
        the duplicate's child's own relations move to the survivor's child; the duplicate's child stays
        with the duplicate, soft-deleted as merged when it can be."""
        survivor_child = self.referring(relation, survivor_pk).values_list("pk", flat=True).first()
        duplicate_child = self.referring(relation, duplicate_pk).values_list("pk", flat=True).first()
        if duplicate_child is None:
            return
        if survivor_child is None:
            self.move(relation, source=duplicate_pk, target=survivor_pk)
            return
        child = relation.model
        self.repoint_all(model=child, survivor_pk=survivor_child, duplicate_pk=duplicate_child, rules=rules or {})
        self.leave(relation, [duplicate_child], why=f"merged into the survivor's {child._meta.verbose_name}")
        if any(f.name == "is_active" for f in child._meta.concrete_fields) and any(
            f.name == "deletion_reason" for f in child._meta.concrete_fields
        ):
            row = child._base_manager.filter(pk=duplicate_child).values("is_active").get()
            if row["is_active"]:
                from django.utils import timezone

                self.set(
                    child,
                    duplicate_child,
                    is_active=False,
                    deleted_at=timezone.now(),
                    deletion_reason=f"{MERGED_REASON_PREFIX}{survivor_child}",
                )


def _integrity_message(model: type[models.Model], exc: IntegrityError) -> str:
    name = constraint_name(exc)
    for constraint in model._meta.constraints:
        if constraint.name == name and getattr(constraint, "violation_error_message", None):
            return str(constraint.violation_error_message).rstrip(".") + "."
    return f"the rule {name or 'of the database'} would be broken."


# --- Undo ------------------------------------------------------------------------------------------------


def undo_problems(steps: list[dict[str, Any]]) -> list[str]:
    """What changed since the merge, one sentence per step that no longer holds (empty: undo is safe)."""
    problems = []
    for step in steps:
        model = apps.get_model(step["model"])
        if step["kind"] == "move":
            attname = model._meta.get_field(step["field"]).attname
            ids = step["ids"]
            still = 0
            for start in range(0, len(ids), UNDO_BATCH):
                batch = ids[start : start + UNDO_BATCH]
                still += model._base_manager.filter(pk__in=batch, **{attname: step["to"]}).count()
            if still != len(ids):
                label = Relation(model, model._meta.get_field(step["field"])).label
                problems.append(
                    f"{len(ids) - still} of the {len(ids)} {label} moved by the merge no longer point at the survivor."
                )
            continue
        names = list(step["fields"])
        attnames = [model._meta.get_field(n).attname for n in names]
        current = model._base_manager.filter(pk=step["id"]).values(*attnames).first() or {}
        for name, attname in zip(names, attnames, strict=True):
            now, merged = jsonable(current.get(attname)), step["fields"][name]["new"]
            if now != merged:
                problems.append(
                    f"The {name} of {model._meta.verbose_name} {step['id']} changed since the merge "
                    f"(the merge set {merged!r}, it is now {now!r})."
                )
    return problems


def undo_steps(steps: list[dict[str, Any]]) -> None:
    """Put every step back, newest first (the caller checked ``undo_problems`` and holds a transaction)."""
    for step in reversed(steps):
        model = apps.get_model(step["model"])
        if step["kind"] == "move":
            attname = model._meta.get_field(step["field"]).attname
            ids = step["ids"]
            for start in range(0, len(ids), UNDO_BATCH):
                batch = ids[start : start + UNDO_BATCH]
                model._base_manager.filter(pk__in=batch, **{attname: step["to"]}).update(**{attname: step["from"]})
        else:
            old = {
                model._meta.get_field(name).attname: _python(model, name, change["old"])
                for name, change in step["fields"].items()
            }
            model._base_manager.filter(pk=step["id"]).update(**old)


def preview(model: type[models.Model], duplicate_pk: Any) -> dict[str, int]:
    """What a merge of ``duplicate_pk`` would move: rows per relation label (kept relations left out)."""
    counts: dict[str, int] = {}
    for relation in relations_to(model):
        if kept_because(relation.model, relation.field):
            continue
        n = relation.model._base_manager.filter(**{relation.field.attname: duplicate_pk}).count()
        if n:
            counts[relation.label] = counts.get(relation.label, 0) + n
    return counts


def describe_counts(counts: dict[str, int]) -> str:
    """ "3 calls, 1 patient, 2 role periods" (singular for one)."""
    parts = []
    for label, n in counts.items():
        parts.append(f"{n} {label}" if n != 1 else f"1 {_singular(label)}")
    return ", ".join(parts) or "nothing"


def _singular(label: str) -> str:
    for model in apps.get_models():
        if str(model._meta.verbose_name_plural) == label:
            return str(model._meta.verbose_name)
    return label
