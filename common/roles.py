"""The four staff roles (Django groups) and the model permissions each one gets.

The groups themselves are created by a data migration (``people.0002_roles``). Their permissions are
kept in step with the apps' ``roles.py`` tables after every ``migrate`` (``post_migrate``), so a model added by a later
migration gets its permissions without another data migration. What each role may see *within* a
model (a CPSS sees only their own caseload) is an object scope applied by selectors, admin and API.
"""

from __future__ import annotations

import importlib

PATIENT_NAVIGATORS = "Patient Navigators"
CRM_SUPERVISORS = "CRM Supervisors"
CPSS = "CPSS"
CM_SUPERVISORS = "CM Supervisors"

ROLE_NAMES = (PATIENT_NAVIGATORS, CRM_SUPERVISORS, CPSS, CM_SUPERVISORS)

VIEW = ("view",)
WORK = ("view", "add", "change")
FULL = ("view", "add", "change", "delete")

# Each app declares what its models give each role in ``<app>/roles.py`` as
#   PERMISSIONS = {roles.PATIENT_NAVIGATORS: {"patients.patient": roles.WORK}, ...}
# so that apps never edit each other's entries. ``role_permissions()`` merges them.
ROLE_APPS = ("people", "patients", "journeys", "cm_program", "accounts")


def role_permissions() -> dict[str, dict[str, tuple[str, ...]]]:
    """group -> {"app_label.model": actions}, merged from every app's ``roles.py``."""
    merged: dict[str, dict[str, tuple[str, ...]]] = {role: {} for role in ROLE_NAMES}
    for app_label in ROLE_APPS:
        try:
            module = importlib.import_module(f"{app_label}.roles")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_label}.roles":
                raise
            continue
        for role, models in module.PERMISSIONS.items():
            merged[role].update(models)
    return merged


def sync_role_permissions(sender=None, using: str = "default", **kwargs) -> None:
    """Make each role group hold exactly the permissions of ``ROLE_PERMISSIONS`` (idempotent)."""
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    last_app = list(apps.get_app_configs())[-1]
    if sender is not None and sender.label != last_app.label:
        return  # run once per migrate, after auth has created the permissions of every app
    table = role_permissions()
    for role in ROLE_NAMES:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = []
        for model_label, actions in table[role].items():
            try:
                model = apps.get_model(model_label)
            except LookupError:
                continue
            ct = ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=False)
            codenames = [f"{action}_{model._meta.model_name}" for action in actions]
            wanted.extend(Permission.objects.using(using).filter(content_type=ct, codename__in=codenames))
        group.permissions.set(wanted)


def group_names(user) -> frozenset[str]:
    """The names of ``user``'s groups (its roles), read once per user object: a request's user is asked by
    the scope, the two-factor rule and the admin's app list, and one query answers them all."""
    cached = user.__dict__.get("_crm_group_names")
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) if user.pk else frozenset()
        user.__dict__["_crm_group_names"] = cached
    return cached
