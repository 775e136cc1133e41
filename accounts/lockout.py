"""What a locked-out login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``): 429 with ``Retry-After``.

A readable page in the admin's look, or the API's JSON error shape under ``/api/``; never a 500 nor
Django's debug page.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from common.api.exceptions import error_body


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return (
        f"Too many failed logins for this account from your address: it is locked for {minutes} minutes "
        "(each new attempt starts the wait again). A supervisor can unlock it sooner."
    )


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body("locked_out", lockout_message()), status=429)
    else:
        context = {**admin.site.each_context(request), "title": "Login locked", "message": lockout_message()}
        response = TemplateResponse(request, "accounts/lockout.html", context, status=429)
        response.render()
    response["Retry-After"] = retry_after
    return response
