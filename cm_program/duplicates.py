"""Possible duplicate canonical patients: the source that ``common.duplicates`` grades (docs/DUPLICATES.md).

A canonical patient's names and date of birth are its own; its phone and email are its CM profile's, else its
Person's (the CM profile keeps the contact details the program uses). ``live_canonical_sql`` /
``LIVE_CANONICAL`` are the one definition of which identities take part: live, and not merged.
"""

from __future__ import annotations

from cm_program.models import LIVE_CANONICAL  # noqa: F401  (defined with the model; its callers import it from here too)
from common.duplicates import DuplicateSource, swapped


def live_canonical_sql(alias: str) -> str:
    """``LIVE_CANONICAL`` in SQL, for the finder's statements."""
    return f"{alias}.is_active AND {alias}.merged_into_id IS NULL"


CANONICAL_PATIENTS = DuplicateSource(
    program="cm",
    source=f"""
    SELECT c.id, lower(crm_unaccent(c.first_name)) AS f, lower(crm_unaccent(c.last_name)) AS l,
           c.date_of_birth AS dob, coalesce(nullif(cm.phone, ''), nullif(per.phone, ''), '') AS phone,
           coalesce(split_part(coalesce(cm.email, per.email), '@', 1), '') AS el,
           split_part(coalesce(cm.email, per.email), '@', 2) AS ed,
           greatest(c.updated_at, cm.updated_at, per.updated_at) AS changed_at
      FROM patients_canonical c
      LEFT JOIN patients_cm cm ON cm.canonical_patient_id = c.id
      LEFT JOIN person per ON per.id = c.person_id
     WHERE {live_canonical_sql("c")}
    """,
    pair_table="canonical_duplicate_pair",
    low="canonical_low_id",
    high="canonical_high_id",
    # The contact keys live on the CM profile and the Person: probed there, through their own indexes.
    probes=(
        "SELECT c.id FROM me a JOIN patients_canonical c ON c.date_of_birth = a.dob",
        f"SELECT c.id FROM me a JOIN patients_canonical c ON c.date_of_birth = {swapped('a.dob')}",
        "SELECT cm.canonical_patient_id FROM me a JOIN patients_cm cm ON cm.phone = a.phone WHERE a.phone <> ''",
        "SELECT c.id FROM me a JOIN person per ON per.phone = a.phone AND per.phone <> '' "
        "JOIN patients_canonical c ON c.person_id = per.id WHERE a.phone <> ''",
        "SELECT cm.canonical_patient_id FROM me a JOIN patients_cm cm ON split_part(cm.email, '@', 1) = a.el "
        "WHERE a.el <> ''",
        "SELECT c.id FROM me a JOIN person per ON split_part(per.email, '@', 1) = a.el "
        "JOIN patients_canonical c ON c.person_id = per.id WHERE a.el <> ''",
    ),
)
