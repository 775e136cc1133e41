"""PostgreSQL extensions every app relies on, created once, before any app's tables.

* btree_gist: exclusion constraints mixing equality and ranges (non-overlapping role periods).
* pg_trgm: trigram indexes for fast ILIKE search on names, emails and phones.
* unaccent: accent-insensitive comparison (canonical patient identity). ``unaccent()`` is only STABLE,
  so ``crm_unaccent()`` wraps it with a fixed dictionary as IMMUTABLE, which index expressions need.
"""

from django.contrib.postgres.operations import BtreeGistExtension, TrigramExtension, UnaccentExtension
from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_unaccent(text) RETURNS text
AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        BtreeGistExtension(),
        TrigramExtension(),
        UnaccentExtension(),
        migrations.RunSQL(CREATE_FUNCTION, "DROP FUNCTION IF EXISTS crm_unaccent(text);"),
    ]
