#!/bin/sh
# Run once by the postgres image when the db volume is first initialised (docker-entrypoint-initdb.d).
# Creates the two roles of docs/OPERATIONS.md: the owner, which runs migrations and owns every table,
# and the app role that web and workers log in as (its privileges are granted by
# `manage.py db_roles`, which the migrate service runs after every migration).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v owner="$CRM_OWNER_USER" -v owner_password="$CRM_OWNER_PASSWORD" \
  -v app="$CRM_APP_USER" -v app_password="$CRM_APP_PASSWORD" <<'SQL'
-- Neither role is a superuser: the owner creates the extensions it needs (btree_gist, pg_trgm and
-- unaccent are trusted extensions) as the owner of the database.
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER DATABASE :"db" OWNER TO :"owner";
-- On PostgreSQL 15 the public schema belongs to the database owner; nobody else may create in it.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
SQL
