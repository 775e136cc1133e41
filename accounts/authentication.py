"""DRF authentication: DRF's tokens with an expiry, and sessions that honour two-factor login."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication

from accounts.selectors import has_two_factor_device, token_expires_at, two_factor_required


@cache
def _token_query() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The one statement that reads a token, its user, the user's group names and permissions: (SQL, the
    token's column names, the user's column names). Built once from the models' metadata."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    token_columns = tuple(f.column for f in Token._meta.concrete_fields)
    user_columns = tuple(f.column for f in user_model._meta.concrete_fields)
    user_groups = user_model.groups.through._meta
    user_permissions = user_model.user_permissions.through._meta
    group_permissions = Group.permissions.through._meta
    q = connections["default"].ops.quote_name
    ug_user, ug_group = (q(user_groups.get_field(name).column) for name in ("user", "group"))
    up_user, up_permission = (q(user_permissions.get_field(name).column) for name in ("user", "permission"))
    gp_group, gp_permission = (q(group_permissions.get_field(name).column) for name in ("group", "permission"))
    permission, content_type, group = (q(m._meta.db_table) for m in (Permission, ContentType, Group))
    ug, up, gp = (q(m.db_table) for m in (user_groups, user_permissions, group_permissions))
    perm_name = f"ct.{q('app_label')} || '.' || p.{q('codename')}"
    sql = (
        f"SELECT {', '.join(f't.{q(c)}' for c in token_columns)}, {', '.join(f'u.{q(c)}' for c in user_columns)}, "
        f"ARRAY(SELECT g.{q('name')} FROM {ug} ug JOIN {group} g ON g.{q('id')} = ug.{ug_group} "
        f"WHERE ug.{ug_user} = u.{q(user_model._meta.pk.column)}), "
        f"ARRAY(SELECT {perm_name} FROM {up} up JOIN {permission} p ON p.{q('id')} = up.{up_permission} "
        f"JOIN {content_type} ct ON ct.{q('id')} = p.{q('content_type_id')} "
        f"WHERE up.{up_user} = u.{q(user_model._meta.pk.column)}), "
        f"ARRAY(SELECT {perm_name} FROM {ug} ug JOIN {gp} gp ON gp.{gp_group} = ug.{ug_group} "
        f"JOIN {permission} p ON p.{q('id')} = gp.{gp_permission} "
        f"JOIN {content_type} ct ON ct.{q('id')} = p.{q('content_type_id')} "
        f"WHERE ug.{ug_user} = u.{q(user_model._meta.pk.column)}) "
        f"FROM {q(Token._meta.db_table)} t JOIN {q(user_model._meta.db_table)} u "
        f"ON u.{q(user_model._meta.pk.column)} = t.{q(Token._meta.get_field('user').column)} "
        f"WHERE t.{q(Token._meta.pk.column)} = %s"
    )
    return (
        sql,
        tuple(f.attname for f in Token._meta.concrete_fields),
        tuple(f.attname for f in user_model._meta.concrete_fields),
    )


def token_with_user(key: str):
    """``(user, token)`` for a token key, or ``None``: one query, read afresh on every request (a deleted or
    rotated token is refused at once). The user comes with what the request will ask of it: its group names
    (``common.roles.group_names``) and, for a user who is not a superuser, its permissions as Django's
    ``ModelBackend`` caches them (``has_perm`` then asks nothing more). A superuser's ``has_perm`` needs no
    query anyway; their (all) permissions stay loaded lazily, as before."""
    from rest_framework.authtoken.models import Token

    sql, token_names, user_names = _token_query()
    with connections[router.db_for_read(Token) or "default"].cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
        alias = cursor.db.alias
    if row is None:
        return None
    split = len(token_names)
    user_end = split + len(user_names)
    token = Token.from_db(alias, token_names, row[:split])
    user = get_user_model().from_db(alias, user_names, row[split:user_end])
    group_names, user_perms, group_perms = row[user_end:]
    user.__dict__["_crm_group_names"] = frozenset(group_names)
    if user.is_active and not user.is_superuser:
        user._user_perm_cache = set(user_perms)
        user._group_perm_cache = set(group_perms)
    token.user = user
    return user, token


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``; a key older than ``API_TOKEN_TTL_DAYS`` answers 401 and says so.

    A token's age counts from when it was issued or last rotated (``POST /api/v1/auth/token/rotate/``).
    The token, its user and the user's roles and permissions are one query (``token_with_user``).
    """

    def authenticate_credentials(self, key):
        found = token_with_user(key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        expires = token_expires_at(token)
        if expires <= timezone.now():
            raise exceptions.AuthenticationFailed(
                f"API token expired on {expires:%Y-%m-%d %H:%M} UTC. Get a new one from your account page "
                "in the admin (or ask a superuser)."
            )
        return user, token


class VerifiedSessionAuthentication(SessionAuthentication):
    """The admin's session login, refused for a user who owes a second factor that the session lacks.

    Scripts with a token are not concerned; this only covers a browser signed in to the admin.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not settings.REQUIRE_2FA:
            return result
        user = result[0]
        verified = getattr(request._request.user, "is_verified", lambda: False)()
        if not verified and (two_factor_required(user) or has_two_factor_device(user)):
            raise exceptions.PermissionDenied(
                "Two-factor login required: sign in to the admin with your authentication code first."
            )
        return result


class VerifiedSessionScheme(SessionScheme):
    """The OpenAPI schema describes the session login as drf-spectacular describes Django's."""

    target_class = "accounts.authentication.VerifiedSessionAuthentication"
