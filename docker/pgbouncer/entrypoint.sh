#!/bin/sh
# The app role's password comes from the environment: written to the auth file at start, never baked
# into the image. PgBouncer checks clients with SCRAM and logs into PostgreSQL with the same password.
set -eu
umask 077
printf '"%s" "%s"\n' "$CRM_APP_USER" "$CRM_APP_PASSWORD" > /etc/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
