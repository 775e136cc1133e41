"""The three conditions the program starts with (the customer's document names them)."""

from django.db import migrations

CONDITIONS = (
    (
        "Duchenne Muscular Dystrophy",
        "DMD",
        "Inherited, progressive muscle-wasting disease caused by mutations in the dystrophin gene.",
    ),
    ("Glioblastoma", "GBM", "The most aggressive primary brain tumour in adults."),
    (
        "Idiopathic Pulmonary Fibrosis",
        "IPF",
        "Chronic, progressive scarring of the lungs of unknown cause.",
    ),
)


def seed(apps, schema_editor):
    MedicalCondition = apps.get_model("patients", "MedicalCondition")
    for name, abbreviation, description in CONDITIONS:
        if not MedicalCondition._default_manager.filter(name__iexact=name).exists():
            MedicalCondition._default_manager.create(name=name, abbreviation=abbreviation, description=description)


def unseed(apps, schema_editor):
    MedicalCondition = apps.get_model("patients", "MedicalCondition")
    MedicalCondition._default_manager.filter(abbreviation__in=[a for _, a, _ in CONDITIONS], patients=None, leads=None).delete()


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
