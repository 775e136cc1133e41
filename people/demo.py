"""Demo people: the navigator team. The ``navigator`` login (made by ``seed_demo``) is Nina's Person.

Idempotent: persons are found by email and roles are only started when not already held.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from people.models import ContactType, Person, User
from people.selectors import person_has_role
from people.services import person_create, person_role_start

NAVIGATORS = (
    # first, last, email, login
    ("Nina", "Navigator", "nina.navigator@demo.crm.test", "navigator"),
    ("Paolo", "Rossi", "paolo.rossi@demo.crm.test", None),
    ("Amara", "Okafor", "amara.okafor@demo.crm.test", None),
    ("Lena", "Fischer", "lena.fischer@demo.crm.test", None),
    ("Tomás", "Becker", "tomas.becker@demo.crm.test", None),
)

# Navigators have been on the team long enough for the back-dated demo calls to be theirs.
NAVIGATOR_SINCE_DAYS = 730


def seed(*, stdout) -> None:
    since = timezone.now() - dt.timedelta(days=NAVIGATOR_SINCE_DAYS)
    created = 0
    for first, last, email, username in NAVIGATORS:
        user = User.objects.filter(username=username).first() if username else None
        person = Person.all_objects.filter(email=email).first()
        if person is None:
            person = person_create(first_name=first, last_name=last, email=email, user=user)
            created += 1
        elif user is not None and person.user_id is None:
            person.user = user
            person.save(update_fields=["user", "updated_at"])
        if not person_has_role(person=person, code=ContactType.PATIENT_NAVIGATOR):
            person_role_start(person=person, role=ContactType.PATIENT_NAVIGATOR, valid_from=since)
    stdout.write(f"people: {len(NAVIGATORS)} navigators ({created} new).")
