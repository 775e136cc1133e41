from django.apps import AppConfig


class CmProgramConfig(AppConfig):
    """Contingency management, kept apart from the IntakeQ psychiatry EMR mirror."""

    name = "cm_program"
    verbose_name = "Contingency management"
