"""Possible duplicate Persons: the source that ``common.duplicates`` grades (docs/DUPLICATES.md).

``live_person_sql`` / ``LIVE_PERSON`` are the one definition of which Persons take part (here and in the
selectors): live, and not merged into another Person.
"""

from __future__ import annotations

from django.db.models import Q

from common.duplicates import DuplicateSource

# The Persons that can be proposed or shown as duplicates: not deleted, not merged.
LIVE_PERSON = Q(is_active=True, merged_into__isnull=True)


def live_person_sql(alias: str) -> str:
    """``LIVE_PERSON`` in SQL, for the finder's statements."""
    return f"{alias}.is_active AND {alias}.merged_into_id IS NULL"


PERSONS = DuplicateSource(
    program="crm",
    source=f"""
    SELECT p.id, lower(crm_unaccent(p.first_name)) AS f, lower(crm_unaccent(p.last_name)) AS l,
           p.date_of_birth AS dob, p.phone AS phone,
           split_part(p.email, '@', 1) AS el, split_part(p.email, '@', 2) AS ed, p.updated_at AS changed_at
      FROM person p
     WHERE {live_person_sql("p")}
    """,
    pair_table="person_duplicate_pair",
    low="person_low_id",
    high="person_high_id",
)
