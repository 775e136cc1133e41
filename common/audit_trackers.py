"""The audit trail's trackers: pghistory's insert/update/delete events, fired once per statement.

A row-level history trigger runs a PL/pgSQL call and an INSERT for every row written: 50,000 persons
inserted in one transaction took ~60 s with it and ~1 s without. These trackers install
statement-level triggers instead: one call per INSERT / UPDATE / DELETE statement writes the events of
all its rows from the statement's transition tables in one ``INSERT ... SELECT``. The trail is the
same: one event per row with the row's values, attached to the statement's context (user, channel,
...); an UPDATE records only the rows whose tracked fields changed (pghistory's ``AnyChange``
condition, applied to the joined old/new transition tables). See docs/PERFORMANCE.md, "Audited bulk
writes".

Why subclasses: pghistory deep-copies ``PGHISTORY_DEFAULT_TRACKERS`` for every tracked model, and
pgtrigger compares its ``Level`` / ``Operation`` values by identity. A deep copy of
``pghistory.InsertEvent(level=pghistory.Statement)`` therefore no longer "is" a statement-level
INSERT tracker: pgtrigger would declare a statement-level trigger without transition tables and
render row-level SQL into it (``makemigrations`` fails). These trackers copy themselves keeping those
shared values (and still copy their condition, which pghistory fills in per model).

This module imports no models: the settings import it.
"""

from __future__ import annotations

import copy

import pghistory
import pghistory.trigger
import pgtrigger


class _KeepsPrimitivesOnCopy:
    def __deepcopy__(self, memo):
        clone = copy.copy(self)
        clone.condition = copy.deepcopy(self.condition, memo)
        return clone


class InsertEvent(_KeepsPrimitivesOnCopy, pghistory.InsertEvent):
    pass


class _BulkPlannedUpdateTrigger(pghistory.trigger.Event):
    def get_func(self, model):
        func = super().get_func(model)
        if self.level != pghistory.Statement:
            return func
        from common.db import planned_for_size

        statement = func.func.strip().removesuffix("RETURN NULL;").strip().removesuffix(";")
        return pgtrigger.Func(planned_for_size(statement, rows="new_values") + "; RETURN NULL;")


class UpdateEvent(_KeepsPrimitivesOnCopy, pghistory.UpdateEvent):
    """An UPDATE's events come from its old and new rows joined by key: with a plan cached for a one-row UPDATE
    that join is a nested loop, quadratic for a bulk one later in the same session. The INSERT of the events is
    therefore planned afresh when the statement updated many rows (``common.db.planned_for_size``)."""

    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _BulkPlannedUpdateTrigger(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


class DeleteEvent(_KeepsPrimitivesOnCopy, pghistory.DeleteEvent):
    pass


def default_trackers() -> tuple[pghistory.RowEvent, ...]:
    """Insert, update (only when a tracked field changed) and delete, each fired per statement."""
    level = pghistory.Statement
    return (InsertEvent(level=level), UpdateEvent(level=level), DeleteEvent(level=level))
