"""docker-compose.scale.yml (issue 13, point 5) cannot be started here (no Docker engine): its shape is
checked instead. The live proof of each piece is tests/scaling (real PostgreSQL, PgBouncer, HAProxy and
worker processes)."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web1", "web2", "worker1", "worker2")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())


def _services() -> dict:
    return _compose()["services"]


def test_every_piece_is_there():
    services = _services()
    assert set(services) == {
        "primary",
        "replica",
        "pgbouncer",
        "migrate",
        "web1",
        "web2",
        "lb",
        "worker1",
        "worker2",
        "redis",
    }
    assert services["primary"]["image"] == services["replica"]["image"] == "postgres:15"
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name  # the project's Dockerfile
    assert services["pgbouncer"]["build"] == "./docker/pgbouncer"
    assert services["lb"]["build"] == "./docker/haproxy"
    # Redis is optional: only under its profile
    assert services["redis"]["profiles"] == ["redis"]
    assert all("profiles" not in service for name, service in services.items() if name != "redis")


def test_every_long_running_service_has_a_health_check():
    services = _services()
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no"  # a one-shot step: it completes, it is not healthy
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "pg_is_in_recovery()" in services["replica"]["healthcheck"]["test"][1]
    assert "/health/" in " ".join(services["web1"]["healthcheck"]["test"])
    assert services["worker1"]["healthcheck"]["test"][1:] == ["python", "manage.py", "procrastinate", "healthchecks"]
    assert services["lb"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8000/lb-health"


def test_start_order_waits_for_health_not_for_start():
    services = _services()
    assert services["replica"]["depends_on"] == {"primary": {"condition": "service_healthy"}}
    assert services["pgbouncer"]["depends_on"] == {"primary": {"condition": "service_healthy"}}
    assert services["migrate"]["depends_on"] == {"primary": {"condition": "service_healthy"}}
    for web in ("web1", "web2"):
        assert services[web]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "pgbouncer": {"condition": "service_healthy"},
            "replica": {"condition": "service_healthy"},
        }
    for worker in ("worker1", "worker2"):
        assert services[worker]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert services["lb"]["depends_on"] == {
        "web1": {"condition": "service_healthy"},
        "web2": {"condition": "service_healthy"},
    }


def test_web_nodes_use_the_pooler_the_replica_and_trust_only_the_load_balancer():
    services = _services()
    lb_address = services["lb"]["networks"]["backend"]["ipv4_address"]
    names = set()
    for web in ("web1", "web2"):
        env = services[web]["environment"]
        assert "@pgbouncer:6432/" in env["DATABASE_URL"] and env["DATABASE_URL"].startswith("postgres://${CRM_APP_USER")
        assert env["DATABASE_POOLER"] == "transaction"
        assert "@replica:5432/" in env["DATABASE_REPLICA_URLS"]
        assert env["TRUSTED_PROXIES"] == lb_address
        assert env["REDIS_URL"] == "${REDIS_URL:-}"
        assert env["DJANGO_SETTINGS_MODULE"] == "crm_project.settings.production"
        names.add(env["NODE_NAME"])
        assert "ports" not in services[web]  # reached through the load balancer only
    assert names == {"web1", "web2"}
    assert services["lb"]["ports"] == ["${WEB_PORT:-8000}:8000"]
    # the load balancer's fixed address is outside the range the other containers get theirs from
    (pool,) = _compose()["networks"]["backend"]["ipam"]["config"]
    assert pool["ip_range"] == "172.28.0.0/25" and lb_address == "172.28.0.200"


def test_workers_run_the_queue_straight_on_the_primary_and_migrate_as_the_owner():
    services = _services()
    for worker in ("worker1", "worker2"):
        service = services[worker]
        assert service["command"] == ["python", "manage.py", "procrastinate", "worker", "--queues", "imports"]
        env = service["environment"]
        assert "@primary:5432/" in env["DATABASE_URL"] and "DATABASE_POOLER" not in env
        assert env["DATABASE_URL"].startswith("postgres://${CRM_APP_USER:-crm_app}:")
        assert service["stop_grace_period"] == "10m"
    migrate = services["migrate"]
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://${CRM_OWNER_USER:-crm_owner}:")
    assert "@primary:5432/" in migrate["environment"]["DATABASE_URL"]
    assert "manage.py migrate --noinput && python manage.py db_roles" in " ".join(migrate["command"])
    secrets = {services[name]["environment"]["SECRET_KEY"] for name in APP_SERVICES}
    assert secrets == {"${SECRET_KEY:?set SECRET_KEY in the environment or in .env}"}


def test_no_source_is_mounted_from_the_host():
    services = _services()
    for name in APP_SERVICES:
        assert "volumes" not in services[name], name  # the image holds the code
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith((".", "/")):
                # only configuration files from docker/, read-only
                assert source.startswith("./docker/") and mode == ["ro"], (name, volume)
                assert (ROOT / source).is_file(), volume
            else:
                assert source in _compose()["volumes"], (name, volume)


def test_the_replica_is_cloned_from_the_primary_through_a_replication_slot():
    services = _services()
    primary, replica = services["primary"], services["replica"]
    assert "wal_level=replica" in primary["command"]
    init = (ROOT / "docker/postgres-replication/20-replication.sh").read_text()
    assert "WITH REPLICATION LOGIN" in init and "pg_create_physical_replication_slot('replica_1')" in init
    assert 'host replication $REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"' in init
    script = replica["command"][-1]
    assert "pg_basebackup -h primary" in script and "-S replica_1 -R" in script
    assert replica["user"] == "postgres"


def test_pgbouncer_and_haproxy_configs():
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read_string((ROOT / "docker/pgbouncer/pgbouncer.ini").read_text())
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["pgbouncer"]["listen_port"] == "6432"
    assert ini["databases"]["*"] == "host=primary port=5432"
    assert "apt-get install -y --no-install-recommends pgbouncer" in (ROOT / "docker/pgbouncer/Dockerfile").read_text()
    cfg = (ROOT / "docker/haproxy/haproxy.cfg").read_text()
    for line in (
        "option forwardfor",
        "monitor-uri /lb-health",
        "balance roundrobin",
        "server web1 web1:8000 check",
        "server web2 web2:8000 check",
        "http-check expect status 200",
    ):
        assert line in cfg, line
    assert "uri /health/" in cfg
