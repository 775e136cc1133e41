"""Login security in the admin: the two-factor login form, lockouts with a recorded unlock, unlock
history, and API tokens (superusers)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from rest_framework.authtoken.admin import TokenAdmin as DrfTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from accounts import selectors, services
from accounts.forms import TwoFactorAdminLoginForm
from accounts.models import LoginLockout, LoginUnlock
from common.admin import reason_action

# The admin's login page asks for the two-factor code of accounts that have set it up; the password
# check goes through django-axes (AUTHENTICATION_BACKENDS), so failures are counted and locked out.
admin.site.login_form = TwoFactorAdminLoginForm
admin.site.login_template = "accounts/login.html"

unlock_selected = reason_action(
    description="Unlock the selected logins",
    service=services.lockout_release,
    permission="unlock",
    object_kwarg="attempt",
    success="{count} login(s) unlocked; the unlock is recorded with your name and reason.",
)
unlock_selected.__name__ = "unlock_selected"


@admin.register(LoginLockout)
class LoginLockoutAdmin(admin.ModelAdmin):
    """Failed logins per username + address. Supervisors see their program's staff and may unlock."""

    list_display = ("username", "ip_address", "failures_since_start", "attempt_time", "locked_until")
    list_display_links = None
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time", "-id")
    fields = ("username", "ip_address", "user_agent", "failures_since_start", "attempt_time", "path_info")
    readonly_fields = fields
    actions = ["unlock_selected"]

    unlock_selected = staticmethod(unlock_selected)

    def get_queryset(self, request):
        return selectors.lockouts_visible_to(request.user)

    @admin.display(description="locked until")
    def locked_until(self, obj) -> str:
        ends = selectors.lockout_ends_at(obj)
        return timezone.localtime(ends).strftime("%Y-%m-%d %H:%M") if ends else "not locked"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # unlocking is the recorded action below, never a silent delete

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm("accounts.delete_loginlockout")


@admin.register(LoginUnlock)
class LoginUnlockAdmin(admin.ModelAdmin):
    """Who lifted which lockout, when and why. Nobody edits or removes these records."""

    list_display = ("username", "ip_address", "failures", "unlocked_by", "created_at", "reason")
    list_select_related = ("unlocked_by",)
    search_fields = ("username", "ip_address", "unlocked_by__username", "reason")
    fields = ("username", "ip_address", "failures", "unlocked_by", "created_at", "reason")
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.unlocks_visible_to(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ApiTokenAdmin(DrfTokenAdmin):
    """API tokens (superusers): who has one, since when, until when. Deleting one revokes it.

    Keys are not shown (DRF's list shows them): a key is a password. Users see their own new key once,
    on their account page.
    """

    list_display = ("user", "key_hint", "created", "expires", "expired")
    list_select_related = ("user",)
    fields = ("user", "key_hint", "created", "expires")
    readonly_fields = fields

    @admin.display(description="key")
    def key_hint(self, obj) -> str:
        return f"{obj.key[:4]}…"

    @admin.display(description="expires")
    def expires(self, obj):
        return selectors.token_expires_at(obj)

    @admin.display(description="expired", boolean=True)
    def expired(self, obj) -> bool:
        return selectors.token_expires_at(obj) <= timezone.now()

    def has_add_permission(self, request) -> bool:
        return False  # users issue their own on their account page; `manage.py drf_create_token` otherwise

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def delete_model(self, request, obj) -> None:
        services.api_token_revoke(user=obj.user, actor=request.user)
