"""Ship the role lookup. Codes are what the services refer to; names may be edited in the admin."""

from django.db import migrations

CONTACT_TYPES = (
    ("patient_lead", "Patient lead", "Showed interest; not a patient yet."),
    ("patient", "Patient", "Followed by the patient navigators."),
    ("physician", "Physician", "A treating, referring or primary-care doctor."),
    ("pharmacist", "Pharmacist", "Dispenses treatment (e.g. for expanded access)."),
    ("patient_navigator", "Patient navigator", "Staff who guide patients towards trials and EAPs."),
    ("caregiver", "Caregiver", "A relative or carer who speaks for a patient."),
)


def seed(apps, schema_editor):
    ContactType = apps.get_model("people", "ContactType")
    for code, name, description in CONTACT_TYPES:
        ContactType._default_manager.get_or_create(code=code, defaults={"name": name, "description": description})


def unseed(apps, schema_editor):
    apps.get_model("people", "ContactType")._default_manager.filter(code__in=[c for c, _, _ in CONTACT_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("people", "0004_roles_and_contact_types")]

    operations = [migrations.RunPython(seed, unseed)]
