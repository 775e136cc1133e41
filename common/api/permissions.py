"""Model permissions per group (including *view* for reads), plus the object scope in each viewset.

A record outside a user's scope is filtered out of the viewset's queryset, so it answers 404 exactly
like a record that does not exist: its existence is not disclosed.
"""

from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }


def action_permission(*perms: str):
    """A permission class requiring the given ``app.codename`` permissions (for custom actions)."""

    from rest_framework.permissions import BasePermission

    class _ActionPermission(BasePermission):
        message = "You do not have permission to perform this action."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_perms(perms))

    _ActionPermission.__name__ = "Requires_" + "_".join(p.replace(".", "_") for p in perms)
    return _ActionPermission
