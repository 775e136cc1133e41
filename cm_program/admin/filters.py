"""List filters of the CM desk that respect the user's scope."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils import timezone

from cm_program import selectors
from cm_program.admin._common import _sees_all
from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CMPointsTransaction,
)
from common.admin_filters import NameBoxFilter


class CPSSFilter(NameBoxFilter):
    """Filter by CPSS, offering only the providers the user may see (a CPSS's list is theirs anyway, so
    they get no filter; a link with their own id still works). A name box, not every CPSS in the sidebar
    (``common.admin_filters``); ``?cpss=<id>`` is what the caseload page links to."""

    title = "CPSS"
    parameter_name = "cpss"
    field_path = "cpss_provider"
    name_fields = ("first_name", "last_name")
    order_by = ("last_name", "first_name")
    extra_choices = (("none", "No CPSS"),)

    def candidates(self, request):
        return selectors.cm_providers_visible_to(request.user) if _sees_all(request.user) else None

    def extra_queryset(self, queryset, value):
        return queryset.filter(**{f"{self.field_path}__isnull": True}) if value == "none" else None


class LedgerCPSSFilter(CPSSFilter):
    field_path = "enrollment__cpss_provider"


class LastEventFilter(admin.SimpleListFilter):
    """Patients not seen lately: no attendance, test, check-in or peer support in the last 7 days (the
    caseload page's "without an event" figure links here)."""

    title = "last event"
    parameter_name = "last_event"

    def lookups(self, request, model_admin):
        return [("stale", "None in the last 7 days"), ("recent", "In the last 7 days")]

    def queryset(self, request, queryset):
        if self.value() not in ("stale", "recent"):
            return queryset
        recent = CMPointsTransaction.objects.filter(
            enrollment=OuterRef("pk"),
            occurred_at__gte=timezone.now() - dt.timedelta(days=7),
            event_type__in=BEHAVIOUR_EVENTS,
        )
        return queryset.filter(Exists(recent)) if self.value() == "recent" else queryset.filter(~Exists(recent))


class PresenceFilter(admin.EmptyFieldListFilter):
    """Yes / No for a one-to-one the row may have (an IntakeQ link, a CM profile), with a readable title."""

    titles = {
        "intakeq_link": "has an IntakeQ record",
        "cm_profile": "has a CM profile",
        "canonical_link": "linked to a CM patient",
    }

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = self.titles.get(field_path, self.title)

    def choices(self, changelist):
        for choice in super().choices(changelist):
            display = str(choice["display"])
            if display.startswith("Not empty"):
                display = "Yes" + display[len("Not empty") :]
            elif display.startswith("Empty"):
                display = "No" + display[len("Empty") :]
            yield {**choice, "display": display}


class OccurredFilter(admin.SimpleListFilter):
    """When the behaviour happened. "This week" starts on Monday 00:00 local time, as on the caseload page."""

    title = "when"
    parameter_name = "occurred"

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("this_week", "This week"), ("last_7_days", "Last 7 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        since = {
            "today": timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time.min)),
            "this_week": selectors.week_start(now),
            "last_7_days": now - dt.timedelta(days=7),
        }.get(self.value())
        if since is None:
            return queryset
        return queryset.filter(occurred_at__gte=since, occurred_at__lte=now)
