"""Every registered admin changelist has a test that its query count is the same at 1 row and at 50 (issue 10,
point 4: "cover all"). The navigation and CM lists have theirs next to their apps; this file holds the rest
(logins, tokens, groups, imports, the PHI access log, the task queue, CM duplicates) and the check that no
registered changelist is left without one: a new ``@admin.register`` fails here until it is measured."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from accounts.models import LoginUnlock
from cm_program.models import CanonicalPatientDuplicatePair
from common.models import ImportKind, ImportRun, PHIAccess
from tests.admin_smoke import admin_url, list_variants
from tests.cm_program.test_admin_queries import CHANGELISTS as CM_CHANGELISTS
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import UserFactory
from tests.patients.test_admin_queries import MAKERS as NAVIGATION_MAKERS

pytestmark = pytest.mark.django_db

# Changelists whose 1-vs-50 test lives elsewhere (a list of its own shape: a queue, a log, the audit events).
ELSEWHERE = {
    "cm_program.IntakeQMatchCandidate": "tests/cm_program/test_admin_match_queue.py",
    "common.MergeLog": "tests/people/test_merge_api.py",
    "pghistory.Events": "tests/common/test_admin_events.py",
}


def _lockout(user) -> None:
    AccessAttempt.objects.create(
        username=f"locked{AccessAttempt.objects.count()}",
        ip_address="10.0.0.1",
        user_agent="pytest",
        http_accept="*/*",
        path_info="/admin/login/",
        failures_since_start=5,
    )


def _unlock(user) -> None:
    LoginUnlock.objects.create(username="someone", ip_address="10.0.0.2", failures=5, unlocked_by=user, reason="x")


def _queued_job(user) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
            "VALUES ('imports', 'imports.run_import', '{}', 'todo')"
        )


def _canonical_pair(user) -> None:
    low, high = sorted((CanonicalPatientFactory(), CanonicalPatientFactory()), key=lambda c: c.pk)
    CanonicalPatientDuplicatePair.objects.create(canonical_low=low, canonical_high=high, score=Decimal("0.80"))


# model label -> how to make one more row of it (``user``: the superuser who looks at the list).
MAKERS = {
    "accounts.LoginLockout": _lockout,
    "accounts.LoginUnlock": _unlock,
    "auth.Group": lambda user: Group.objects.create(name=f"Group {Group.objects.count()}"),
    "authtoken.TokenProxy": lambda user: Token.objects.create(user=UserFactory()),
    "cm_program.CanonicalPatientDuplicatePair": _canonical_pair,
    "common.ImportRun": lambda user: ImportRun.objects.create(kind=ImportKind.LEGACY_CRM, created_by=user),
    "common.PHIAccess": lambda user: PHIAccess.objects.create(
        user=user, channel="admin", access_type="detail", resource_type="patient"
    ),
    "otp_totp.TOTPDevice": lambda user: TOTPDevice.objects.create(user=UserFactory(), name="phone"),
    "people.User": lambda user: UserFactory(),
    "procrastinate.ProcrastinateJob": _queued_job,
}


def test_every_registered_changelist_has_a_query_count_test():
    registered = {model._meta.label for model in admin.site._registry}
    covered = (
        {model._meta.label for model in NAVIGATION_MAKERS}
        | {model._meta.label for model in CM_CHANGELISTS}
        | set(ELSEWHERE)
        | set(MAKERS)
    )
    assert registered - covered == set(), "changelists with no 1-vs-50-rows query count test"
    assert covered - registered == set(), "query count tests of changelists that are no longer registered"


def _model(label: str):
    return next(model for model in admin.site._registry if model._meta.label == label)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


@pytest.mark.parametrize("label", sorted(MAKERS))
def test_changelist_search_and_filters_cost_the_same_queries_at_1_and_50_rows(label, superuser):
    model, make = _model(label), MAKERS[label]
    client = Client()
    client.force_login(superuser)
    url = admin_url(model, "changelist")
    make(superuser)
    client.get(url)  # the per-process caches (content types, permissions) are warm
    urls = list_variants(client, url)
    at_one = {u: _queries(client, u) for u in urls}
    rows_at_one = client.get(url).context["cl"].result_count
    for _ in range(49):
        make(superuser)
    at_fifty = {u: _queries(client, u) for u in urls}
    rows_at_fifty = len(client.get(url).context["cl"].result_list)
    assert rows_at_one >= 1 and rows_at_fifty >= 50, (rows_at_one, rows_at_fifty)
    assert at_fifty == at_one
