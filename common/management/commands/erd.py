"""Print, write or check docs/ERD.md, the entity-relationship document generated from the models."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import erd


class Command(BaseCommand):
    help = "Render docs/ERD.md from the models (--write to update it, --check to fail when it is stale)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--write", action="store_true", help="Rewrite docs/ERD.md.")
        group.add_argument("--check", action="store_true", help="Exit non-zero when docs/ERD.md is out of date.")

    def handle(self, *args, write: bool = False, check: bool = False, **options):
        path = settings.BASE_DIR / "docs" / "ERD.md"
        text = erd.render()
        if write:
            path.write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {path}")
        elif check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise CommandError(f"{path} is out of date: run `python manage.py erd --write`.")
            self.stdout.write(f"{path} is up to date.")
        else:
            self.stdout.write(text, ending="")
