"""The medical conditions the program starts with (the customer's document names them).

Migration 0002 ships them; ``post_migrate`` re-ensures them (by name, ignoring case, soft-deleted rows
included) so a flushed test database still has them. A condition a supervisor deactivated stays
deactivated: only a missing row is created.
"""

from __future__ import annotations

CONDITIONS = (
    (
        "Duchenne Muscular Dystrophy",
        "DMD",
        "Inherited, progressive muscle-wasting disease caused by mutations in the dystrophin gene.",
    ),
    ("Glioblastoma", "GBM", "The most aggressive primary brain tumour in adults."),
    ("Idiopathic Pulmonary Fibrosis", "IPF", "Chronic, progressive scarring of the lungs of unknown cause."),
)


def ensure_medical_conditions(sender=None, using: str = "default", **kwargs) -> None:
    from patients.models import MedicalCondition

    manager = MedicalCondition._default_manager.using(using)
    for name, abbreviation, description in CONDITIONS:
        if not manager.filter(name__iexact=name).exists():
            manager.create(name=name, abbreviation=abbreviation, description=description)
