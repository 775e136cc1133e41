"""The task workers' timing settings (docs/SCALING.md, "Task workers"): read from the environment, refused
when they would let a live worker's job run twice, and wired into procrastinate."""

from __future__ import annotations

import json

from tests.subprocess_utils import run_python

PRINT = (
    "import django, json; django.setup(); from django.conf import settings;"
    "from common.imports import tasks;"
    "from procrastinate.contrib.django import app;"
    "periodic = [t.cron for t in app.periodic_registry.periodic_tasks.values()];"
    "print(json.dumps({'defaults': settings.PROCRASTINATE_WORKER_DEFAULTS, 'cron': periodic,"
    " 'after': settings.TASK_STALLED_AFTER_SECONDS, 'client': settings.TASK_CLIENT_CHECK_SECONDS}))"
)
ENV = {"DJANGO_SETTINGS_MODULE": "crm_project.settings.local"}


def _settings(**env):
    result = run_python(PRINT, env={**ENV, **env})
    return result, (json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None)


def test_defaults_heartbeat_every_10_s_requeue_after_a_silent_minute_checked_each_minute():
    result, values = _settings()
    assert result.returncode == 0, result.stderr
    assert values["defaults"] == {"update_heartbeat_interval": 10.0, "stalled_worker_timeout": 60.0}
    assert values["cron"] == ["* * * * *"]
    assert (values["after"], values["client"]) == (60.0, 5)


def test_the_environment_sets_them_and_seconds_become_a_sixth_cron_field():
    result, values = _settings(
        TASK_HEARTBEAT_SECONDS="1", TASK_STALLED_AFTER_SECONDS="3", TASK_STALLED_CHECK_SECONDS="2"
    )
    assert result.returncode == 0, result.stderr
    assert values["defaults"] == {"update_heartbeat_interval": 1.0, "stalled_worker_timeout": 3.0}
    assert values["cron"] == ["* * * * * */2"]


def test_settings_that_could_run_a_live_workers_job_twice_are_refused():
    result, _ = _settings(TASK_HEARTBEAT_SECONDS="30", TASK_STALLED_AFTER_SECONDS="60")
    assert result.returncode != 0
    assert "TASK_STALLED_AFTER_SECONDS=60.0: must be at least three heartbeats" in result.stderr
    result, _ = _settings(TASK_STALLED_CHECK_SECONDS="7")
    assert result.returncode != 0 and "TASK_STALLED_CHECK_SECONDS=7: must divide 60" in result.stderr
    result, _ = _settings(TASK_CLIENT_CHECK_SECONDS="-1")
    assert result.returncode != 0 and "TASK_CLIENT_CHECK_SECONDS=-1: must be 0 (off) or more" in result.stderr
