"""Delete the stored answers of ``Idempotency-Key`` requests older than 24 hours (run it from cron)."""

from __future__ import annotations

from common.idempotency import prune_expired
from common.management.base import AuditedCommand


class Command(AuditedCommand):
    help = (
        "Delete idempotency keys older than IDEMPOTENCY_KEY_TTL (24 hours). Each new keyed POST also prunes "
        "up to 100 of them, so this is a clean-up for quiet periods, not a requirement."
    )

    def handle(self, *args, **options) -> None:
        deleted = prune_expired(limit=None)
        self.stdout.write(f"Deleted {deleted} expired idempotency keys.")
