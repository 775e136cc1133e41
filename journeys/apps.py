from django.apps import AppConfig


class JourneysConfig(AppConfig):
    """Clinical-trial and expanded-access (EAP) journeys, each with its own status timeline."""

    name = "journeys"
    verbose_name = "Journeys"
