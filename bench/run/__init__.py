"""python -m bench.run: the request benchmarks of issue 10 against a running gunicorn (see bench/README.md).

Modules: ``server`` starts gunicorn and reads its workers' CPU; ``client`` is a keep-alive HTTP client
that logs in; ``cases`` lists what is requested; ``floors`` times each case's raw-SQL floor; ``report``
prints the table and writes it into docs/PERFORMANCE.md.
"""
