"""docs/ERD.md documents every table and column of patient navigation, and stays in step with the models."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from common import erd

ERD_PATH = settings.BASE_DIR / "docs" / "ERD.md"


def _sections(text: str) -> dict[str, str]:
    """table name -> the markdown of its section."""
    parts = re.split(r"^### `([a-z_]+)`.*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_model_field_is_in_the_document():
    text = ERD_PATH.read_text(encoding="utf-8")
    sections = _sections(text)
    models = erd.erd_models()
    assert {m._meta.db_table for m in models} >= {
        "person",
        "contact_type",
        "person_contact_type",
        "medical_condition",
        "hospital",
        "specialization",
        "patient_lead",
        "patient",
        "physician",
        "patient_physician_relationship",
        "call_history",
        "clinical_trial_journey",
        "eap_journey",
        "journey_status_change",
    }
    missing = []
    for model in models:
        table = model._meta.db_table
        section = sections.get(table, "")
        if not section:
            missing.append(f"{table} (no section)")
            continue
        for field in model._meta.concrete_fields:
            if f"| `{field.column}` |" not in section:
                missing.append(f"{table}.{field.column}")
        for constraint in model._meta.constraints:
            if f"`{constraint.name}`" not in section:
                missing.append(f"{table} constraint {constraint.name}")
    assert missing == [], "docs/ERD.md is missing: " + ", ".join(missing) + " (run `manage.py erd --write`)"
    assert "```mermaid\nerDiagram" in text


@pytest.mark.django_db
def test_document_matches_what_the_models_generate():
    # A stricter check than the one above: any drift at all (a type, a constraint, a relation).
    assert ERD_PATH.read_text(encoding="utf-8") == erd.render(), "run `python manage.py erd --write`"
    call_command("erd", "--check")


def test_event_models_are_not_documented():
    assert not [m for m in erd.erd_models() if m.__name__.endswith("Event")]


@pytest.mark.django_db
def test_check_fails_on_a_stale_document(tmp_path, settings):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ERD.md").write_text("# stale\n")
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match="out of date"):
        call_command("erd", "--check")
