from django.apps import AppConfig


class PatientsConfig(AppConfig):
    """Patient navigation: leads, patients, physicians, medical conditions and call history."""

    name = "patients"
    verbose_name = "Patient navigation"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from patients.reference_data import ensure_medical_conditions

        post_migrate.connect(ensure_medical_conditions, sender=self, dispatch_uid="patients.ensure_medical_conditions")
