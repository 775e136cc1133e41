from django.apps import AppConfig


class MergeAppConfig(AppConfig):
    name = "tests.merge_app"
    label = "merge_app"
    default_auto_field = "django.db.models.BigAutoField"
