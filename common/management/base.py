"""Base class for the project's management commands: their writes are audited as channel "command"."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from common.audit import command_channel, command_name, process_audit_context


class AuditedCommand(BaseCommand):
    """Runs ``handle`` inside a pghistory context naming the command, the OS user and the host, so every
    row it changes is attributed to it in the audit trail.

    Every management command already gets that context from ``common.audit.install_command_audit_hook``;
    this class keeps it for a command executed where the hook is not installed."""

    def execute(self, *args, **options):
        with process_audit_context(channel=command_channel(self) or "command", command=command_name(self)):
            return super().execute(*args, **options)
