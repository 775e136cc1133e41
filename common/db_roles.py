"""The two database roles of a deployment, and the privileges that make append-only tables stay so.

* The **owner** role runs ``migrate`` (a separate step before the app starts) and owns every table,
  sequence, function and trigger.
* The **app** role is what the web and worker processes log in as. It owns nothing, so it cannot
  ``ALTER TABLE ... DISABLE TRIGGER`` or drop anything; it reads and writes rows of the app's tables,
  except that UPDATE, DELETE and TRUNCATE are revoked on the append-only tables below. That matters
  because the triggers that keep those tables append-only can be skipped by any session
  (``SET pgtrigger.ignore``) and disabled by an owner; a missing privilege cannot be skipped.

``app_role_grant`` is run by the owner after every ``migrate`` (``manage.py db_roles --app-role NAME``):
it is idempotent and re-applies the whole set, so tables added by later migrations are covered even
where the default privileges it also sets would have granted too much.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

# The one list of append-only tables. A table that does not exist (yet) is skipped and reported, so
# db_roles may run before the migration that creates a newly listed table.
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "cm_points_transactions",  # the CM points ledger (cm_program.CMPointsTransaction)
    "cm_enrollment_status_changes",  # the CM enrollments' status history (cm_program.EnrollmentStatusChange)
    "phi_access_log",  # who viewed which patient's record (HIPAA 164.312(b))
)

APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APP_SEQUENCE_PRIVILEGES = "USAGE, SELECT"
# What the app role never holds on any table (TRUNCATE empties a table without firing row triggers).
NEVER_GRANTED = "TRUNCATE, REFERENCES, TRIGGER"
REVOKED_ON_APPEND_ONLY = "UPDATE, DELETE, TRUNCATE"


@dataclass
class RoleGrantReport:
    app_role: str
    owner: str
    schema: str
    tables: int = 0
    sequences: int = 0
    append_only: list[str] = field(default_factory=list)
    append_only_missing: list[str] = field(default_factory=list)


def _role(cursor, name: str) -> tuple[bool, bool] | None:
    cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [name])
    return cursor.fetchone()


def owned_relations(*, role: str, schema: str = "public", using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Tables, views and sequences in ``schema`` owned by ``role`` (the app role must own none)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)
            ORDER BY c.relname
            """,
            [schema, role],
        )
        return [row[0] for row in cursor.fetchall()]


def existing_append_only_tables(*, schema: str = "public", using: str = DEFAULT_DB_ALIAS) -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s) ORDER BY c.relname",
            [schema, list(APPEND_ONLY_TABLES)],
        )
        return [row[0] for row in cursor.fetchall()]


def app_role_grant(*, app_role: str, schema: str = "public", using: str = DEFAULT_DB_ALIAS) -> RoleGrantReport:
    """Give ``app_role`` exactly what the web and worker processes need, run as the owner of the tables.

    Refuses (``ValidationError`` on ``app_role``) when the role does not exist, is a superuser or may
    bypass row security (privileges would mean nothing), is the role running this (the owner), or owns
    any relation in the schema (an owner can disable triggers and grant itself anything back).
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    role, schema_sql = qn(app_role), qn(schema)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        attributes = _role(cursor, app_role)
        if attributes is None:
            raise ValidationError({"app_role": [f"Role {app_role!r} does not exist; create it first (CREATE ROLE)."]})
        if app_role == owner:
            raise ValidationError(
                {"app_role": [f"Role {app_role!r} is the role running this command, i.e. the owner; name another."]}
            )
        if attributes[0] or attributes[1]:
            raise ValidationError(
                {"app_role": [f"Role {app_role!r} is a superuser or bypasses row security: privileges cannot bind it."]}
            )
        owned = owned_relations(role=app_role, schema=schema, using=using)
        if owned:
            shown = ", ".join(owned[:10]) + (" ..." if len(owned) > 10 else "")
            raise ValidationError(
                {
                    "app_role": [
                        f"Role {app_role!r} owns {len(owned)} relation(s) in schema {schema!r} ({shown}); "
                        f"hand them to the owner first: REASSIGN OWNED BY {app_role} TO {owner};"
                    ]
                }
            )
        report = RoleGrantReport(app_role=app_role, owner=owner, schema=schema)
        statements = [
            f"GRANT CONNECT, TEMPORARY ON DATABASE {qn(database)} TO {role}",
            f"GRANT USAGE ON SCHEMA {schema_sql} TO {role}",
            f"GRANT {APP_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {schema_sql} TO {role}",
            f"REVOKE {NEVER_GRANTED} ON ALL TABLES IN SCHEMA {schema_sql} FROM {role}",
            f"GRANT {APP_SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {schema_sql} TO {role}",
            # Tables created by later migrations (run by this owner) are usable before this runs again.
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {qn(owner)} IN SCHEMA {schema_sql} "
            f"GRANT {APP_TABLE_PRIVILEGES} ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {qn(owner)} IN SCHEMA {schema_sql} "
            f"GRANT {APP_SEQUENCE_PRIVILEGES} ON SEQUENCES TO {role}",
        ]
        for statement in statements:
            cursor.execute(statement)
        report.append_only = existing_append_only_tables(schema=schema, using=using)
        report.append_only_missing = [t for t in APPEND_ONLY_TABLES if t not in report.append_only]
        for table in report.append_only:
            # PUBLIC too: a privilege granted to PUBLIC would reach the app role through it.
            cursor.execute(f"REVOKE {REVOKED_ON_APPEND_ONLY} ON {schema_sql}.{qn(table)} FROM {role}, PUBLIC")
        cursor.execute(
            "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')), count(*) FILTER (WHERE c.relkind = 'S') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [schema],
        )
        report.tables, report.sequences = cursor.fetchone()
    return report
