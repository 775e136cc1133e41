"""db_roles: give the web/worker role its privileges; run by the owner role after every ``migrate``."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from common.db_roles import APPEND_ONLY_TABLES, REVOKED_ON_APPEND_ONLY, app_role_grant


class Command(BaseCommand):
    help = (
        "Grant the app role (the one the web and worker processes log in as) what it needs, as the owner "
        "of the tables (run it as that owner, right after `migrate`): CONNECT on the database, USAGE on "
        "the schema, SELECT/INSERT/UPDATE/DELETE on every table and USAGE/SELECT on every sequence, the "
        "same by default for tables the owner creates later, and never TRUNCATE, REFERENCES or TRIGGER. "
        f"On the append-only tables ({', '.join(APPEND_ONLY_TABLES)}; those that exist) it revokes "
        f"{REVOKED_ON_APPEND_ONLY}. Idempotent. Refuses an app role that is a superuser, is the owner or "
        "owns any table. See docs/OPERATIONS.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="the role of the web and worker processes, e.g. crm_app")
        parser.add_argument("--schema", default="public", help="the schema of the app's tables (default: public)")
        parser.add_argument("--database", default="default", help="the Django database alias (default: default)")

    def handle(self, *args, **options):
        try:
            report = app_role_grant(app_role=options["app_role"], schema=options["schema"], using=options["database"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.message_dict["app_role"])) from None
        self.stdout.write(
            f"{report.app_role}: read/write on {report.tables} tables and {report.sequences} sequences of schema "
            f"{report.schema!r} (owner {report.owner}); no TRUNCATE, REFERENCES or TRIGGER anywhere."
        )
        for table in report.append_only:
            self.stdout.write(f"  append-only: {table} (INSERT and SELECT only; {REVOKED_ON_APPEND_ONLY} revoked)")
        for table in report.append_only_missing:
            self.stdout.write(f"  append-only: {table} does not exist here (skipped)")
        self.stdout.write(self.style.SUCCESS("Done."))
