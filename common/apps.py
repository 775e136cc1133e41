from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Cross-cutting pieces: base models, audit context, health check, roles, demo data."""

    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from common import roles
        from common.audit import install_command_audit_hook
        from common.replicas import install_atomic_by_method

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="common.sync_role_permissions")
        install_command_audit_hook()
        install_atomic_by_method()  # GET/HEAD outside the request's transaction when replicas are set
