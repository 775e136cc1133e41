"""List filters of the CM desk that respect the user's scope."""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cm_program import selectors
from cm_program.admin._common import _sees_all
from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CMPointsTransaction,
)


class CPSSFilter(admin.SimpleListFilter):
    """Filter by CPSS, offering only the providers the user may see (a CPSS's list is theirs anyway, so
    they get no choices; a link with their own id still works).

    A program has hundreds of CPSS (2,000 in the full-size benchmark): listing them all in the sidebar
    cost 700 ms and 90 ms of CPU on every view of the enrollments and the ledger. The sidebar shows a
    name box instead: the CPSS whose names contain what was typed are listed (at most ``MAX_CHOICES``) and
    the list is narrowed to all of them until one is picked (``?cpss=<id>``, as the caseload page links).
    """

    title = "CPSS"
    parameter_name = "cpss"
    name_parameter = "cpss_name"
    field_path = "cpss_provider"
    template = "admin/cm_program/cpss_filter.html"
    MAX_CHOICES = 25

    def __init__(self, request, params, model, model_admin):
        self.name_query = (params.pop(self.name_parameter, None) or [""])[-1].strip()[:100]
        super().__init__(request, params, model, model_admin)
        if self.name_query:
            self.used_parameters[self.name_parameter] = self.name_query

    def expected_parameters(self):
        return [self.parameter_name, self.name_parameter]

    def has_output(self) -> bool:
        return _sees_all(self.request.user)

    def _named(self):
        providers = selectors.cm_providers_visible_to(self.request.user)
        for word in self.name_query.split():
            providers = providers.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
        return providers

    def lookups(self, request, model_admin):
        if not _sees_all(request.user):
            return None
        chosen = []
        if self.name_query:
            chosen = list(self._named().order_by("last_name", "first_name", "pk")[: self.MAX_CHOICES])
        else:
            selected = self.used_parameters.get(self.parameter_name)
            try:
                pk = uuid.UUID(selected) if selected else None
            except ValueError:
                pk = None
            if pk is not None:
                chosen = list(selectors.cm_providers_visible_to(request.user).filter(pk=pk))
        return [(str(p.pk), str(p)) for p in chosen] + [("none", "No CPSS")]

    def choices(self, changelist):
        self.hidden_params = [
            (key, value)
            for key, value in changelist.get_filters_params().items()
            if key not in (self.parameter_name, self.name_parameter)
        ]
        self.hidden_params += [(key, changelist.params[key]) for key in ("q", "o") if key in changelist.params]
        yield {
            "selected": self.value() is None and not self.name_query,
            "query_string": changelist.get_query_string(remove=[self.parameter_name, self.name_parameter]),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}, [self.name_parameter]),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            if self.name_query:
                return queryset.filter(**{f"{self.field_path}__in": self._named().values("pk")})
            return queryset
        if value == "none":
            return queryset.filter(**{f"{self.field_path}__isnull": True})
        try:
            pk = uuid.UUID(value)
        except ValueError:
            return queryset.none()
        return queryset.filter(**{self.field_path: pk})


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
