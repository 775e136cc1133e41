"""WSGI entry point (gunicorn ``crm_project.wsgi``). Production settings unless told otherwise."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.production")

application = get_wsgi_application()
