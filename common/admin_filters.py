"""A sidebar filter for a long list of people (CPSS, staff logins): a name box instead of every choice.

Django's list filters print one link per choice. With hundreds or thousands of choices (2,000 CPSS and
2,500 staff logins in the full-size benchmark) the sidebar cost 700 ms and 90-140 ms of CPU on every view
of the list, and nobody can find a name in it anyway. ``NameBoxFilter`` shows a small form: what is typed
(``<parameter>_name``) lists up to ``MAX_CHOICES`` matching choices and narrows the list to all of them
until one is picked (``?<parameter>=<id>``, the link other pages use).
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import Q, QuerySet


class NameBoxFilter(admin.SimpleListFilter):
    """Subclasses set ``title``, ``parameter_name``, ``field_path`` (the list's path to the chosen row),
    ``name_fields`` (the chosen model's fields a typed word is looked for in) and ``candidates``."""

    template = "admin/name_box_filter.html"
    field_path = ""
    name_fields: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    MAX_CHOICES = 25
    MAX_LENGTH = 100
    # Extra choices after the names (e.g. ("none", "No CPSS")), handled by ``extra_queryset``.
    extra_choices: tuple[tuple[str, str], ...] = ()

    @property
    def name_parameter(self) -> str:
        return f"{self.parameter_name}_name"

    def __init__(self, request, params, model, model_admin):
        self.name_query = (params.pop(f"{self.parameter_name}_name", None) or [""])[-1].strip()[: self.MAX_LENGTH]
        super().__init__(request, params, model, model_admin)
        if self.name_query:
            self.used_parameters[self.name_parameter] = self.name_query

    def candidates(self, request) -> QuerySet | None:
        """The rows this user may pick from (None: no filter for this user)."""
        raise NotImplementedError

    def label(self, obj) -> str:
        return str(obj)

    def expected_parameters(self):
        return [self.parameter_name, self.name_parameter]

    def has_output(self) -> bool:
        return self.candidates(self.request) is not None

    def _named(self, request) -> QuerySet:
        rows = self.candidates(request)
        for word in self.name_query.split():
            condition = Q()
            for field in self.name_fields:
                condition |= Q(**{f"{field}__icontains": word})
            rows = rows.filter(condition)
        return rows

    def _selected_pk(self):
        try:
            return uuid.UUID(str(self.value())) if self.value() else None
        except ValueError:
            return None

    def lookups(self, request, model_admin):
        candidates = self.candidates(request)
        if candidates is None:
            return None
        if self.name_query:
            chosen = list(self._named(request).order_by(*self.order_by, "pk")[: self.MAX_CHOICES])
        elif self._selected_pk() is not None:
            chosen = list(candidates.filter(pk=self._selected_pk()))
        else:
            chosen = []
        return [(str(obj.pk), self.label(obj)) for obj in chosen] + list(self.extra_choices)

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

    def extra_queryset(self, queryset: QuerySet, value: str) -> QuerySet | None:
        """The list for one of ``extra_choices`` (None: not one of them)."""
        return None

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            if self.name_query:
                return queryset.filter(**{f"{self.field_path}__in": self._named(request).values("pk")})
            return queryset
        extra = self.extra_queryset(queryset, value)
        if extra is not None:
            return extra
        pk = self._selected_pk()
        return queryset.none() if pk is None else queryset.filter(**{self.field_path: pk})
