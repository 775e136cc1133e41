"""The admin's delete / restore actions answer a write PostgreSQL refuses with a message, never a 500,
and keep nothing of it (the form views do the same: tests/journeys/test_races.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from patients import services
from patients.models import Hospital
from tests.admin_smoke import admin_url


@pytest.mark.django_db
def test_a_restore_refused_by_a_constraint_no_service_checks_is_a_message(client, superuser):
    mercy = services.hospital_create(name="Mercy West", city="Seattle")
    general = services.hospital_create(name="Seattle General", city="Seattle")
    for hospital in (mercy, general):
        services.hospital_soft_delete(hospital=hospital, reason="merged")
    with connection.cursor() as cursor:
        # A rule PostgreSQL holds and no service checks (a later migration's, a DBA's), rolled back with
        # the test. The deferred checks of the writes above run first: ALTER TABLE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE hospital ADD CONSTRAINT test_only_general_stays_retired "
            "CHECK (NOT is_active OR name <> 'Seattle General')"
        )
    client.force_login(superuser)

    response = client.post(
        admin_url(Hospital, "changelist"),
        {"action": "restore_selected", "_selected_action": [mercy.pk, general.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "The database refused this change (rule test_only_general_stays_retired). Nothing was saved."
    ]
    assert sorted(Hospital.all_objects.values_list("name", "is_active")) == [
        ("Mercy West", False),
        ("Seattle General", False),
    ]
