"""The audit events admin (/admin/pghistory/events/) as pghistory ships it, without the full count.

Its list unions every event table; its default "N total" counts all of them (2 s at 200,000 persons).
``PGHISTORY_ADMIN_ALL_EVENTS = False`` (settings) keeps the list empty until it is filtered."""

from __future__ import annotations

from pghistory.admin.core import EventsAdmin


class CrmEventsAdmin(EventsAdmin):
    show_full_result_count = False
