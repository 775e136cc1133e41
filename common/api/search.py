"""The API's ``?search=``: the same search as the admin's (``common.search``), for every viewset with
``search_fields``."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.fields import CharField
from rest_framework.filters import SearchFilter

from common import search as common_search

# Longer terms are not names, emails or phones; refusing them keeps a pasted document out of the query.
SEARCH_MAX_LENGTH = 200


class CrmSearchFilter(SearchFilter):
    """DRF's ``SearchFilter`` with the CRM's matching rules: accent- and case-insensitive, every word in
    some field, served by the trigram and prefix indexes (see ``common.search``). A term DRF refuses (a
    NUL character) or one over 200 characters is a 400 naming ``search``."""

    def get_search_term(self, request) -> str:
        value = request.query_params.get(self.search_param, "")
        field = CharField(trim_whitespace=False, allow_blank=True, max_length=SEARCH_MAX_LENGTH)
        field.bind(self.search_param, None)
        try:
            return field.run_validation(value)
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from None

    def filter_queryset(self, request, queryset, view):
        search_fields = self.get_search_fields(view, request)
        if not search_fields:
            return queryset
        return common_search.search(queryset, search_fields, self.get_search_term(request))
