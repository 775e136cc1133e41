"""``?ordering=`` with public names that may differ from the lookups behind them.

A patient list sorts by ``last_name`` although the column is the Person's: the view says
``ordering_aliases = {"last_name": "person__last_name"}``. Ordering by the lookup itself, rather than by an
annotation of it, keeps the join out of everything but the page query (the count does not need it) and lets
PostgreSQL walk the Person's name index.
"""

from __future__ import annotations

from rest_framework.filters import OrderingFilter


class AliasOrderingFilter(OrderingFilter):
    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        aliases = getattr(view, "ordering_aliases", {})
        terms = []
        for term in ordering:
            if isinstance(term, str):
                sign = "-" if term.startswith("-") else ""
                term = sign + aliases.get(term.lstrip("-"), term.lstrip("-"))
            terms.append(term)
        return queryset.order_by(*terms)
