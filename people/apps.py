from django.apps import AppConfig


class PeopleConfig(AppConfig):
    """Person (the single source of truth for a human's identity) and staff logins."""

    name = "people"
    verbose_name = "People"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from people.reference_data import ensure_contact_types

        post_migrate.connect(ensure_contact_types, sender=self, dispatch_uid="people.ensure_contact_types")
