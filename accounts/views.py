"""The signed-in user's account pages in the admin: two-factor set-up and code check, API token.

Every view is wrapped by ``admin.site.admin_view`` (staff login, no caching, CSRF) in ``accounts.urls``.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, verify_token
from django_otp import login as otp_login

from accounts import selectors, services
from accounts.forms import CodeForm
from common.admin import add_refusal_to_form


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _page(request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        f"accounts/{template}",
        {**admin.site.each_context(request), "title": title, "next": _next_url(request), **context},
    )


def account(request: HttpRequest, *, new_key: str | None = None) -> TemplateResponse:
    user = request.user
    return _page(
        request,
        "account.html",
        "Your account",
        two_factor_required=selectors.two_factor_required(user),
        two_factor_set_up=selectors.has_two_factor_device(user),
        session_verified=user.is_verified(),
        token=selectors.api_token_status(user),
        token_ttl_days=selectors.token_ttl().days,
        new_key=new_key,
    )


def _qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code, drawn here (nothing is fetched from elsewhere)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if selectors.has_two_factor_device(user):
        messages.info(request, "Two-factor login is already set up for your account.")
        return redirect("accounts:account")
    device = services.totp_enrolment_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.totp_enrolment_confirm(user=user, token=form.cleaned_data["token"])
        except ValidationError as exc:
            add_refusal_to_form(form, exc)
        else:
            otp_login(request, device)
            messages.success(request, "Two-factor login is set up: from now on, log in with a code from the app.")
            return redirect(_next_url(request))
    uri = device.config_url
    return _page(
        request,
        "two_factor_setup.html",
        "Set up two-factor login",
        form=form,
        required=selectors.two_factor_required(user),
        otpauth_uri=uri,
        secret=base64.b32encode(device.bin_key).decode().rstrip("="),
        qr_svg=mark_safe(_qr_svg(uri)),  # drawn by qrcode from our own URI: no markup from a user
    )


def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step for a signed-in session that has not given a code yet (see the middleware)."""
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        return redirect(f"{reverse('accounts:two_factor_setup')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        device = next((d for d in devices if verify_token(user, d.persistent_id, token)), None)
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", "That code is wrong or has expired. Enter the code the app shows now.")
    return _page(request, "two_factor_verify.html", "Enter your authentication code", form=form)


@require_POST
def token_rotate(request: HttpRequest) -> TemplateResponse:
    token = services.api_token_rotate(user=request.user)
    messages.success(request, "New API token issued; the previous one no longer works. Copy it now.")
    return account(request, new_key=token.key)


@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    if services.api_token_revoke(user=request.user, actor=request.user):
        messages.success(request, "Your API token is revoked: scripts using it now get 401.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("accounts:account")
