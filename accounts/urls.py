"""The signed-in user's own account pages, under /admin/account/ (inside the admin's login)."""

from django.contrib import admin
from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", admin.site.admin_view(views.account), name="account"),
    path("two-factor/", admin.site.admin_view(views.two_factor_setup), name="two_factor_setup"),
    path("two-factor/verify/", admin.site.admin_view(views.two_factor_verify), name="two_factor_verify"),
    path("token/rotate/", admin.site.admin_view(views.token_rotate), name="token_rotate"),
    path("token/revoke/", admin.site.admin_view(views.token_revoke), name="token_revoke"),
]
