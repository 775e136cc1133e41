"""The table of the API throttle's DatabaseCache (settings.CACHES["throttle"]).

What ``manage.py createcachetable`` makes, as a migration: `make run`, the tests and deployments get
it from `migrate`, with no extra step.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                CREATE TABLE IF NOT EXISTS api_throttle_cache (
                    cache_key varchar(255) NOT NULL PRIMARY KEY,
                    value text NOT NULL,
                    expires timestamp with time zone NOT NULL
                );
                CREATE INDEX IF NOT EXISTS api_throttle_cache_expires ON api_throttle_cache (expires);
            """,
            reverse_sql="DROP TABLE IF EXISTS api_throttle_cache;",
        ),
    ]
