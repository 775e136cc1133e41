"""Reference rows the code relies on (the contact-type codes the services use).

Migration 0005 ships them; this module re-ensures them after every ``migrate`` and every test-database
flush (``post_migrate``), so a flushed or hand-edited database never leaves the services without the
roles they look up. Existing rows are never changed: names may be edited in the admin.
"""

from __future__ import annotations

CONTACT_TYPES = (
    ("patient_lead", "Patient lead", "Showed interest; not a patient yet."),
    ("patient", "Patient", "Followed by the patient navigators."),
    ("physician", "Physician", "A treating, referring or primary-care doctor."),
    ("pharmacist", "Pharmacist", "Dispenses treatment (e.g. for expanded access)."),
    ("patient_navigator", "Patient navigator", "Staff who guide patients towards trials and EAPs."),
    ("caregiver", "Caregiver", "A relative or carer who speaks for a patient."),
)


def ensure_contact_types(sender=None, using: str = "default", **kwargs) -> None:
    from people.models import ContactType

    for code, name, description in CONTACT_TYPES:
        ContactType._default_manager.using(using).get_or_create(
            code=code, defaults={"name": name, "description": description}
        )
