"""Base class for the project's management commands: their writes are audited as channel "command"."""

from __future__ import annotations

import pghistory
from django.core.management.base import BaseCommand


class AuditedCommand(BaseCommand):
    """Runs ``handle`` inside a pghistory context naming the command, so every row it changes is
    attributed to it in the audit trail."""

    def execute(self, *args, **options):
        command = self.__class__.__module__.rsplit(".", 1)[-1]
        with pghistory.context(channel="command", command=command):
            return super().execute(*args, **options)
