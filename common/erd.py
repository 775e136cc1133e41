"""The entity-relationship document (``docs/ERD.md``), generated from the models themselves.

``python manage.py erd --write`` rewrites the file; ``python manage.py erd --check`` (and the test
suite) fail when the file differs from what the models say, so the document cannot drift.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection, models

ERD_APPS = ("people", "patients", "journeys")

HEADER = """# Entity-relationship document: patient navigation

Generated from the models by `python manage.py erd --write`; do not edit by hand (the test suite
fails when this file and the models disagree). Tables are named as the customer's CRM redesign
document names its entities. Every table also has an audit-trail twin written by django-pghistory
triggers (`<app>_<model>event`), not shown here.

Conventions shared by every table: a UUID primary key `id`; `created_at` / `updated_at`; the
soft-deletable tables carry `is_active`, `deleted_at`, `deleted_by_id` and `deletion_reason` (for
`call_history` these four are the *void* marker: a voided call is kept with who, when and why).
"""


def erd_models() -> list[type[models.Model]]:
    """The concrete models of the documented apps, without pghistory's event models."""
    found = []
    for label in ERD_APPS:
        for model in apps.get_app_config(label).get_models():
            if model._meta.abstract or model._meta.proxy or is_event_model(model):
                continue
            if label == "people" and model._meta.model_name == "user":
                continue  # the staff login; documented by Django itself
            found.append(model)
    return found


def is_event_model(model) -> bool:
    from pghistory.models import Event

    return issubclass(model, Event)


def _type(field: models.Field) -> str:
    target = field.target_field if field.is_relation else field
    return target.db_type(connection) or target.get_internal_type()


def _mermaid_type(field: models.Field) -> str:
    # Mermaid attribute types are single words: "varchar(150)" -> "varchar".
    return _type(field).split("(")[0].replace("timestamp with time zone", "timestamptz").replace(" ", "_")


def _relation_cardinality(field: models.Field) -> str:
    # Mermaid crow's feet: left = the referenced table, right = this table.
    left = "|o" if field.null else "||"
    right = "o|" if field.one_to_one else "o{"
    return f"{left}--{right}"


def _mermaid(models_: list[type[models.Model]]) -> list[str]:
    lines = ["```mermaid", "erDiagram"]
    for model in models_:
        table = model._meta.db_table
        lines.append(f"    {table} {{")
        for field in model._meta.concrete_fields:
            keys = []
            if field.primary_key:
                keys.append("PK")
            if field.is_relation:
                keys.append("FK")
            if field.unique and not field.primary_key:
                keys.append("UK")
            lines.append(f"        {_mermaid_type(field)} {field.column}{' ' + ','.join(keys) if keys else ''}")
        lines.append("    }")
    documented = {m._meta.db_table for m in models_}
    for model in models_:
        for field in model._meta.concrete_fields:
            if not field.is_relation:
                continue
            target = field.related_model._meta.db_table
            if target not in documented:
                continue
            lines.append(f'    {target} {_relation_cardinality(field)} {model._meta.db_table} : "{field.column}"')
    lines.append("```")
    return lines


def _notes(field: models.Field) -> str:
    notes = []
    if field.is_relation:
        notes.append(f"→ `{field.related_model._meta.db_table}`")
    if field.unique and not field.primary_key:
        notes.append("unique")
    if field.choices:
        notes.append("one of " + ", ".join(f"`{value}`" for value, _ in field.flatchoices))
    if field.help_text:
        notes.append(str(field.help_text))
    return "; ".join(notes)


def _constraint_sql(model, constraint) -> str:
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        sql = str(constraint.create_sql(model, editor))
    return " ".join(sql.split())


def _entity(model: type[models.Model]) -> list[str]:
    doc = " ".join((model.__doc__ or "").split())
    lines = [f"### `{model._meta.db_table}` ({model.__name__}, app `{model._meta.app_label}`)", ""]
    if doc and not doc.startswith(f"{model.__name__}("):
        lines += [doc, ""]
    lines += ["| Column | Type | Null | Notes |", "| --- | --- | --- | --- |"]
    for field in model._meta.concrete_fields:
        lines.append(f"| `{field.column}` | {_type(field)} | {'yes' if field.null else 'no'} | {_notes(field)} |")
    constraints = list(model._meta.constraints)
    if constraints:
        lines += ["", "Constraints:", ""]
        for constraint in constraints:
            lines.append(f"- `{constraint.name}`: `{_constraint_sql(model, constraint)}`")
    lines.append("")
    return lines


def render() -> str:
    models_ = erd_models()
    lines = [HEADER, "## Diagram", "", *_mermaid(models_), "", "## Entities", ""]
    for model in models_:
        lines += _entity(model)
    return "\n".join(lines).rstrip() + "\n"
