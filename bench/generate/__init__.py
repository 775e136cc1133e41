"""``python -m bench.generate``: a large, realistic data set in a database of its own.

``generate()`` fills Django's default database (the command points it at ``crm_bench`` first; the
tests use their own test database). See ``__main__`` for the command and bench/README.md.
"""
