"""Page-number pagination whose parameters are checked, not guessed.

DRF's ``PageNumberPagination`` turns a ``page_size`` it cannot use (``-1``, ``0``, ``abc``, ``100000``)
into the default or the maximum without a word, so a script asking for 1000 rows a page silently got
500 and may have believed it had them all. Here a bad ``page_size`` or ``page`` is a 400 naming the
parameter; an empty value counts as not given, as for the filters.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


def _positive_int(request, name: str, *, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    limit = f" from 1 to {maximum}" if maximum is not None else " of 1 or more"
    # Only plain decimal digits: int() would also take "+5", "5_000" or non-ASCII digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise serializers.ValidationError({name: [f"Give a whole number{limit}."]})
    value = int(text)
    if value < 1 or (maximum is not None and value > maximum):
        raise serializers.ValidationError({name: [f"Give a whole number{limit} (got {value})."]})
    return value


class StandardPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (default 50, at most 500); ``{"count", "next", "previous", "results"}``.
    A ``page_size`` that is not a whole number from 1 to 500, or a ``page`` that is not a whole number of 1
    or more (or ``last``), is a 400 naming the parameter; a page past the last one is a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        given = _positive_int(request, self.page_size_query_param, maximum=self.max_page_size)
        return given if given is not None else self.page_size

    def paginate_queryset(self, queryset, request, view=None):
        page = request.query_params.get(self.page_query_param)
        if page is not None and page.strip() not in self.last_page_strings:
            _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)
