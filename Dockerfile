FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=crm_project.settings.production

WORKDIR /app
COPY pyproject.toml README.md ./
COPY crm_project ./crm_project
COPY common ./common
COPY people ./people
COPY patients ./patients
COPY journeys ./journeys
COPY cm_program ./cm_program
COPY templates ./templates
COPY manage.py gunicorn.conf.py ./
RUN pip install --no-cache-dir . \
    && SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DATABASE_URL=postgres://unused/unused \
       python manage.py collectstatic --noinput \
    && useradd --system --home /app crm && chown -R crm /app
USER crm

EXPOSE 8000
# Migrations are a separate step run as the owner role (docker-compose.yml: the migrate service;
# docs/OPERATIONS.md); the web process logs in as the app role, which may not change the schema.
# gunicorn.conf.py: worker class, workers and threads as measured (docs/OPERATIONS.md, "The web server");
# WEB_CONCURRENCY, GUNICORN_THREADS and GUNICORN_BIND override them.
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
