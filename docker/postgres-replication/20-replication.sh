#!/bin/sh
# docker-compose.scale.yml, primary only: run once when its volume is first initialised, after
# 10-crm-roles.sh. A role that may stream the WAL, a slot that keeps the WAL until the replica has it,
# and the pg_hba line that lets the replica connect for replication (password, SCRAM).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v user="$REPLICATION_USER" -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('replica_1');
SQL
echo "host replication $REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
