"""Counts the SQL queries of each request, for the benchmarks (``BENCH_QUERY_COUNT``; bench/README.md).

Outermost middleware: every query that runs while the response is built — sessions, authentication,
the PHI access log, the throttle's cache connection, the view — is counted on every database alias,
and the number goes out in the ``X-Query-Count`` header. A streamed response's queries that run while
its body is sent (a streamed CSV's rows) come after the header is written and are not counted.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.db import connections

HEADER = "X-Query-Count"


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counting(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(counting))
            response = self.get_response(request)
        response[HEADER] = str(count)
        return response
