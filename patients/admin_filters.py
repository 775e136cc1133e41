"""List filters of the patient-navigation changelists.

Their parameters are what the caseload page and the patient page link to, so a figure on one screen
and the list behind it always count the same rows:

* ``navigator=mine|all|none|<person id>`` (patients open on "mine" for a navigator);
* ``follow_up=overdue|due|today|week|none`` (the follow-up is the reminder of the latest non-void call);
* ``journey=ct:<status>|eap:<status>|open|none``;
* ``within=today|7|30`` on calls (the last N days up to now), ``patient=<id>`` on calls;
* ``deleted=no|yes`` (``void=no|yes`` on calls) for soft-deleted rows.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney
from journeys.transitions import CTStatus, EAPStatus
from patients.models import Patient, PatientStatus
from people.admin import SoftDeletedFilter
from people.models import Person
from people.selectors import navigator_for_user, navigators


def current_navigator(request) -> Person | None:
    """The navigator Person of the logged-in user (None for supervisors and admins without one),
    looked up once per request."""
    if not hasattr(request, "_crm_navigator"):
        request._crm_navigator = navigator_for_user(request.user)
    return request._crm_navigator


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise IncorrectLookupParameters(f"'{value}' is not an id.") from None


class NavigatorFilter(admin.SimpleListFilter):
    """Mine / all / unassigned / one navigator. For a navigator, the list opens on "mine"."""

    title = "navigator"
    parameter_name = "navigator"
    field_path = "navigator"
    mine_label = "My patients"
    default_to_mine = True
    offer_unassigned = True

    def __init__(self, request, params, model, model_admin):
        self.me = current_navigator(request)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        choices = [("mine", self.mine_label)] if self.me else []
        if self.offer_unassigned:
            choices.append(("none", "Unassigned"))
        # Plain values, not 500 Person objects (their construction was most of the sidebar's cost at full size).
        names = navigators().order_by("last_name", "first_name").values_list("pk", "first_name", "last_name")
        team = [(str(pk), f"{first} {last}".strip()) for pk, first, last in names]
        selected = super().value()
        if selected and selected not in ("mine", "all", "none") and selected not in dict(team):
            # Someone who no longer holds the role (the caseload page lists them while they have patients).
            former = Person.all_objects.filter(pk=_uuid(selected)).first()
            if former is not None:
                team.append((selected, f"{former.full_name} (former)"))
        return choices + team

    def value(self):
        value = super().value()
        if value is None and self.default_to_mine and self.me is not None:
            return "mine"
        return value

    def queryset(self, request, queryset):
        value = self.value()
        if value in (None, "all"):
            return queryset
        if value == "mine":
            return self.of_navigator(queryset, self.me.pk) if self.me else queryset.none()
        if value == "none":
            return queryset.filter(**{f"{self.field_path}__isnull": True})
        return self.of_navigator(queryset, _uuid(value))

    def of_navigator(self, queryset, navigator_id):
        return queryset.filter(**{f"{self.field_path}__pk": navigator_id})

    def choices(self, changelist):
        value = self.value()
        # Without a parameter a navigator sees "mine", so "All" has to say so explicitly.
        explicit_all = self.default_to_mine and self.me is not None
        yield {
            "selected": value in (None, "all"),
            "query_string": changelist.get_query_string({self.parameter_name: "all"})
            if explicit_all
            else changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class CallNavigatorFilter(NavigatorFilter):
    mine_label = "My calls"
    default_to_mine = False
    offer_unassigned = False


class FollowUpFilter(admin.SimpleListFilter):
    """On the patient's ``follow_up_date`` column (indexed for active patients). Only active patients
    (status active, not deleted) have follow-ups due, as on the caseload page."""

    title = "follow-up"
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return (
            ("overdue", "Overdue"),
            ("due", "Due (today or overdue)"),
            ("today", "Due today"),
            ("week", "In the next 7 days"),
            ("none", "None set"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        today = timezone.localdate()
        conditions = {
            "overdue": Q(follow_up_date__lt=today),
            "due": Q(follow_up_date__lte=today),
            "today": Q(follow_up_date=today),
            "week": Q(follow_up_date__gt=today, follow_up_date__lte=today + dt.timedelta(days=7)),
            "none": Q(follow_up_date__isnull=True),
        }
        if value not in conditions:
            raise IncorrectLookupParameters(f"Unknown follow-up filter '{value}'.")
        return queryset.filter(conditions[value], status=PatientStatus.ACTIVE, is_active=True)


class JourneyStatusFilter(admin.SimpleListFilter):
    """Patients with a (non-deleted) CT or EAP journey in a given status, or with none."""

    title = "journey status"
    parameter_name = "journey"

    def lookups(self, request, model_admin):
        return (
            ("open", "Any open journey"),
            *((f"ct:{value}", f"Clinical trial: {label}") for value, label in CTStatus.choices),
            *((f"eap:{value}", f"EAP: {label}") for value, label in EAPStatus.choices),
            ("none", "No journey"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        ct = ClinicalTrialJourney.objects.filter(patient=OuterRef("pk"))
        eap = EAPJourney.objects.filter(patient=OuterRef("pk"))
        if value == "open":
            # A column kept by triggers on the journey tables (journeys.open_journeys): probing both journey
            # tables per patient read all 300,000 journeys at full size (~400 ms of SQL).
            return queryset.filter(open_journeys__gt=0)
        if value == "none":
            return queryset.filter(~Exists(ct), ~Exists(eap))
        kind, _, status = value.partition(":")
        if kind == "ct" and status in CTStatus.values:
            return queryset.filter(Exists(ct.filter(status=status)))
        if kind == "eap" and status in EAPStatus.values:
            return queryset.filter(Exists(eap.filter(status=status)))
        raise IncorrectLookupParameters(f"Unknown journey filter '{value}'.")


class CallPeriodFilter(admin.SimpleListFilter):
    """Calls made in the last N days up to now: the windows of the caseload page."""

    title = "made"
    parameter_name = "within"

    def lookups(self, request, model_admin):
        return (("today", "Today"), ("7", "In the last 7 days"), ("30", "In the last 30 days"))

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        now = timezone.now()
        if value == "today":
            start = timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time.min))
            return queryset.filter(call_date__gte=start, call_date__lte=now)
        if value not in ("7", "30"):
            raise IncorrectLookupParameters(f"Unknown period '{value}'.")
        return queryset.filter(call_date__gt=now - dt.timedelta(days=int(value)), call_date__lte=now)


class VoidFilter(SoftDeletedFilter):
    title = "void"
    parameter_name = "void"
    labels = (("no", "Not void"), ("yes", "Void"))


class PatientFilter(admin.SimpleListFilter):
    """``?patient=<id>``: the calls of one patient (the patient page's "all calls" link). Shown in the
    sidebar only while set, so the list says whose calls it is showing."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return ()
        patient = Patient.all_objects.select_related("person").filter(pk=_uuid(value)).first()
        return ((value, str(patient) if patient else "(no such patient)"),)

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(patient_id=_uuid(value))
