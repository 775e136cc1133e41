"""``crm_audit_context(actor, reason)``: attribute a DBA's raw SQL in the audit trail (channel ``dba``).

pghistory's triggers attach every event to the context named by the session settings
``pghistory.context_id`` / ``pghistory.context_metadata`` (the app sets them per transaction). A psql
session calls this function once; it creates the context row and sets both settings for the rest of
the session, so every later change in that session names the DBA, their reason and the database
login. ``RESET pghistory.context_id; RESET pghistory.context_metadata;`` ends it. See
docs/OPERATIONS.md.
"""

from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_audit_context(actor text, reason text) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    context_id uuid := gen_random_uuid();
    context_metadata jsonb;
BEGIN
    IF actor IS NULL OR btrim(actor) = '' OR reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'crm_audit_context needs an actor (who you are) and a reason (why you change data)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    context_metadata := jsonb_build_object(
        'channel', 'dba',
        'actor', btrim(actor),
        'reason', btrim(reason),
        'db_user', session_user::text,
        'client_addr', inet_client_addr()::text,
        'application_name', current_setting('application_name', true)
    );
    INSERT INTO pghistory_context (id, metadata, created_at, updated_at)
        VALUES (context_id, context_metadata, now(), now());
    -- Session-wide (is_local = false): psql runs each statement in its own transaction.
    PERFORM set_config('pghistory.context_id', context_id::text, false);
    PERFORM set_config('pghistory.context_metadata', context_metadata::text, false);
    RETURN context_id;
END
$$;
COMMENT ON FUNCTION crm_audit_context(text, text) IS
    'Attribute the rest of this session''s changes in the audit trail to actor, with reason (channel dba).';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_extensions"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunSQL(CREATE_FUNCTION, "DROP FUNCTION IF EXISTS crm_audit_context(text, text);"),
    ]
