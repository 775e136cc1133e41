# Written by hand: person_search, a narrow copy of what the name search reads (docs/PERFORMANCE.md, "Search",
# "Round 4"; people/search_table.py reads, checks and rebuilds it).
#
# Why: at 1M persons a common surname ("smith": 30,746 matches) lies on nearly every page of person, so page 1 of
# a searched list read the whole table (300-340 ms). Here each person is one narrow row (the list's sort keys and
# the three search keys), filled in the lists' order (last_name, first_name, person_id): a surname's matches sit on
# a few hundred consecutive pages. The searched lists take their candidates' ids in order from it and read only
# the page's rows from person.
#
# Kept by statement-level triggers on person (INSERT, UPDATE, DELETE, TRUNCATE): every write path, the ORM's, a
# bulk update(), a merge, raw SQL, COPY. No foreign key (the triggers are the link; `manage.py person_search
# --check` compares the two tables). Self-contained on purpose: the SQL lives here.
#
# Migration at full size: person is locked against writes (SHARE ROW EXCLUSIVE: reads go on) while 1M rows are
# copied in name order and the seven indexes are built (docs/PERFORMANCE.md gives the time measured).

from django.db import migrations, models

SQL = r"""
LOCK TABLE person IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE person_search (
    person_id uuid PRIMARY KEY,
    last_name varchar(150) NOT NULL,
    first_name varchar(150) NOT NULL,
    first_name_key text,
    last_name_key text,
    email_key text
);
COMMENT ON TABLE person_search IS
    'One row per person: its name (the lists'' order) and search keys, kept by triggers on person (people/search_table.py).';

INSERT INTO person_search (person_id, last_name, first_name, first_name_key, last_name_key, email_key)
SELECT id, last_name, first_name, first_name_key, last_name_key, email_key
FROM person
ORDER BY last_name, first_name, id;

CREATE INDEX person_search_order_idx ON person_search (last_name, first_name, person_id);
CREATE INDEX person_search_first_name_trgm ON person_search USING gin (first_name_key gin_trgm_ops);
CREATE INDEX person_search_last_name_trgm ON person_search USING gin (last_name_key gin_trgm_ops);
CREATE INDEX person_search_email_trgm ON person_search USING gin (email_key gin_trgm_ops);
CREATE INDEX person_search_first_name_prefix ON person_search (first_name_key text_pattern_ops);
CREATE INDEX person_search_last_name_prefix ON person_search (last_name_key text_pattern_ops);
CREATE INDEX person_search_email_prefix ON person_search (email_key text_pattern_ops);

-- Inserted and updated persons: their row, written only when a searched or sorted column changed.
CREATE FUNCTION person_search_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO person_search AS s (person_id, last_name, first_name, first_name_key, last_name_key, email_key)
    SELECT id, last_name, first_name, first_name_key, last_name_key, email_key FROM person_search_new
    ON CONFLICT (person_id) DO UPDATE
        SET last_name = excluded.last_name, first_name = excluded.first_name,
            first_name_key = excluded.first_name_key, last_name_key = excluded.last_name_key,
            email_key = excluded.email_key
        WHERE (s.last_name, s.first_name, s.first_name_key, s.last_name_key, s.email_key)
            IS DISTINCT FROM (excluded.last_name, excluded.first_name, excluded.first_name_key,
                              excluded.last_name_key, excluded.email_key);
    RETURN NULL;
END $$;

CREATE FUNCTION person_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM person_search s USING person_search_old o WHERE s.person_id = o.id;
    RETURN NULL;
END $$;

CREATE FUNCTION person_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE person_search;
    RETURN NULL;
END $$;

CREATE TRIGGER person_search_insert AFTER INSERT ON person
    REFERENCING NEW TABLE AS person_search_new FOR EACH STATEMENT EXECUTE FUNCTION person_search_upsert();
CREATE TRIGGER person_search_update AFTER UPDATE ON person
    REFERENCING NEW TABLE AS person_search_new FOR EACH STATEMENT EXECUTE FUNCTION person_search_upsert();
CREATE TRIGGER person_search_delete AFTER DELETE ON person
    REFERENCING OLD TABLE AS person_search_old FOR EACH STATEMENT EXECUTE FUNCTION person_search_delete();
CREATE TRIGGER person_search_truncate AFTER TRUNCATE ON person
    FOR EACH STATEMENT EXECUTE FUNCTION person_search_truncate();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS person_search_insert ON person;
DROP TRIGGER IF EXISTS person_search_update ON person;
DROP TRIGGER IF EXISTS person_search_delete ON person;
DROP TRIGGER IF EXISTS person_search_truncate ON person;
DROP FUNCTION IF EXISTS person_search_upsert();
DROP FUNCTION IF EXISTS person_search_delete();
DROP FUNCTION IF EXISTS person_search_truncate();
DROP TABLE IF EXISTS person_search;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0019_person_stored_search_keys"),
    ]

    operations = [
        migrations.RunSQL(SQL, REVERSE_SQL),
        migrations.CreateModel(
            name="PersonSearch",
            fields=[
                ("person_id", models.UUIDField(primary_key=True, serialize=False)),
                ("last_name", models.CharField(max_length=150)),
                ("first_name", models.CharField(max_length=150)),
                ("first_name_key", models.TextField(null=True)),
                ("last_name_key", models.TextField(null=True)),
                ("email_key", models.TextField(null=True)),
            ],
            options={
                "db_table": "person_search",
                "managed": False,
            },
        ),
    ]
