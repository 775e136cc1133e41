import pytest
from django.db import connection


@pytest.mark.django_db
def test_required_extensions_and_unaccent_function():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        extensions = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT crm_unaccent('José Ñúñez'), current_setting('server_version_num')::int")
        unaccented, version = cursor.fetchone()
    assert {"btree_gist", "pg_trgm", "unaccent"} <= extensions
    assert unaccented == "Jose Nunez"
    assert version >= 150000, "PostgreSQL 15 or newer is the supported target"


def test_engine_is_postgresql():
    assert connection.vendor == "postgresql"
