"""Load demo data for local use: one login per role, a superuser, and (as the apps grow) sample records.

Idempotent: running it twice changes nothing the second time. Refuses to run under production
settings, where demo logins with known passwords would be a hole.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.selectors import token_expires_at
from accounts.services import api_token_rotate
from common import roles
from common.management.base import AuditedCommand
from people.models import User

# Each app may ship a ``demo.py`` with ``seed(*, stdout)``; they run in this order, after the logins.
DEMO_APPS = ("people", "patients", "journeys", "cm_program")

DEMO_PASSWORD = "demo-pass-2026"

DEMO_USERS = (
    # username, first name, last name, role (None = superuser)
    ("admin", "Ada", "Admin", None),
    ("navigator", "Nina", "Navigator", roles.PATIENT_NAVIGATORS),
    ("crm_supervisor", "Sam", "Supervisor", roles.CRM_SUPERVISORS),
    ("cpss", "Casey", "Peer", roles.CPSS),
    ("cm_supervisor", "Morgan", "Lead", roles.CM_SUPERVISORS),
)


class Command(AuditedCommand):
    help = (
        f"Create demo logins (one per role plus a superuser, password {DEMO_PASSWORD!r}) and demo data. "
        "Idempotent; refuses to run with production settings."
    )

    def handle(self, *args, **options):
        if settings.CRM_ENVIRONMENT == "production":
            raise CommandError(
                "seed_demo refuses to run with production settings: it creates logins with known passwords."
            )
        with transaction.atomic():
            users = self._users()
            for app_label in DEMO_APPS:
                try:
                    module = importlib.import_module(f"{app_label}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{app_label}.demo":
                        raise
                    continue
                module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password for all: {DEMO_PASSWORD}):"))
        self.stdout.write(f"  {'username':<16} {'role':<20} API token")
        for username, role, token in users:
            self.stdout.write(f"  {username:<16} {role:<20} {token}")
        self.stdout.write("  API example: curl -H 'Authorization: Token <token>' http://127.0.0.1:8000/api/v1/persons/")

    def _users(self) -> list[tuple[str, str, str]]:
        created = []
        for username, first, last, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, first_name=first, last_name=last, email=f"{username}@demo.crm.test")
                user.set_password(DEMO_PASSWORD)
                user.is_staff = True
                user.is_superuser = role is None
                user.save()
            if role is not None:
                user.groups.add(Group.objects.get(name=role))
            token, _ = Token.objects.get_or_create(user=user)
            if token_expires_at(token) <= timezone.now():  # an old demo database: print a token that works
                token = api_token_rotate(user=user)
            created.append((username, role or "superuser", token.key))
        return created
