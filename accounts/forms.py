"""The admin login form with a two-factor code, and the forms of the account pages."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp import devices_for_user, verify_token

_CODE_WIDGET = forms.TextInput(
    attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*", "size": 8}
)


class TwoFactorAdminLoginForm(AdminAuthenticationForm):
    """Username and password (checked by django-axes' backend first), then, for an account with
    two-factor login set up, the code of its authenticator app.

    A wrong code counts as a failed login for the lockout, so the code cannot be guessed at leisure by
    someone who knows the password (django-otp also slows down repeated wrong codes on the device).
    """

    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=16,
        strip=True,
        widget=_CODE_WIDGET,
        help_text="The 6-digit code of your authenticator app, if you have set up two-factor login.",
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": "Enter the code of your authenticator app: this account logs in with two factors.",
        "otp_invalid": "That authentication code is wrong or has expired. Enter the code the app shows now.",
    }

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        devices = list(devices_for_user(user, confirmed=True))
        if not devices:
            return cleaned
        token = cleaned.get("otp_token") or ""
        if not token:
            raise ValidationError(self.error_messages["otp_required"], code="otp_required")
        device = next((d for d in devices if verify_token(user, d.persistent_id, token)), None)
        if device is None:
            user_login_failed.send(
                sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request
            )
            raise ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
        user.otp_device = device  # django_otp marks the session verified when Django logs the user in
        return cleaned


class CodeForm(forms.Form):
    token = forms.CharField(label="Authentication code", max_length=16, strip=True, widget=_CODE_WIDGET)
