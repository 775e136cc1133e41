"""Login security records. Lockouts themselves are django-axes' ``AccessAttempt`` rows."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.db import models

from common.models import BaseModel


class LoginUnlock(BaseModel):
    """A supervisor lifted a login lockout before its cool-off ended: who, for whom, when and why.

    The lockout row (django-axes) is deleted by the unlock, so this is what remains of it.
    """

    username = models.CharField(max_length=255, help_text="The username that was locked out, as it was typed.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    failures = models.PositiveIntegerField(help_text="Failed attempts counted when it was unlocked.")
    unlocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()

    class Meta:
        db_table = "login_unlock"
        ordering = ["-created_at", "-id"]
        verbose_name = "login unlock"
        verbose_name_plural = "login unlocks"
        indexes = [models.Index(fields=["-created_at", "-id"], name="login_unlock_recent_idx")]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address or 'any address'}"


class LoginLockout(AccessAttempt):
    """django-axes' record of failed logins for one username + address, shown in the admin as a lockout."""

    class Meta:
        proxy = True
        verbose_name = "login lockout"
        verbose_name_plural = "login lockouts"
