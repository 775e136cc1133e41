"""gunicorn configuration of the web process (Dockerfile, docker-compose.yml, python -m bench.run).

Every value can be overridden from the environment; the defaults were chosen by measurement on the
2-core benchmark machine (docs/PERFORMANCE.md, "gunicorn: worker class and threads"). A request
spends part of its time waiting on PostgreSQL (its queries, and the PHI access-log insert of every
patient read), so threads in each worker keep the cores busy while one request waits, at a far
smaller memory cost than more processes.

  WEB_CONCURRENCY     worker processes            (default: cores + 1)
  GUNICORN_THREADS    threads per worker          (default 4; 1 gives plain sync workers)
  GUNICORN_BIND       address to listen on        (default 0.0.0.0:8000; PORT alone also works)
  GUNICORN_TIMEOUT    seconds before a stuck worker is restarted (default 30)
  GUNICORN_MAX_REQUESTS  recycle a worker after this many requests, +/- 10% jitter (default 0: never)
  GUNICORN_ACCESS_LOG  "-" for stdout (default), "" for none
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "crm_project.wsgi:application"
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = timeout
keepalive = 5
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# Behind a proxy on the same host or network: the app reads the client address itself (TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn >= 25's control socket sits at one fixed path per user: two servers on a host would share it.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""
