"""The benchmark's query counter (BENCH_QUERY_COUNT): every query of the request, on every connection."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.http import HttpResponse
from django.test import RequestFactory

from common.query_count import HEADER, QueryCountMiddleware


@pytest.mark.django_db(databases=["default", "cache"])
def test_counts_the_queries_of_the_request_on_every_connection():
    def view(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.execute("SELECT 2")
        with connections["cache"].cursor() as cursor:
            cursor.execute("SELECT 3")
        return HttpResponse("ok")

    response = QueryCountMiddleware(view)(RequestFactory().get("/"))
    assert response.status_code == 200 and response.content == b"ok"
    assert response[HEADER] == "3"
    # Outside a request nothing is counted any more: the wrappers are gone.
    assert connection.execute_wrappers == [] and connections["cache"].execute_wrappers == []


def test_off_unless_the_setting_is_on(settings):
    assert "common.query_count.QueryCountMiddleware" not in settings.MIDDLEWARE
