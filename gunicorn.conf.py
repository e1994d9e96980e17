"""Gunicorn settings for `make run` and production (see README "Deployment").

Every value can be overridden from the environment, so one file serves a laptop and a server.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn import glogging

port = os.environ.get("PORT", "8000")
bind = os.environ.get("BIND", f"127.0.0.1:{port}")
# gthread workers: a few threads per process, each request holding one database connection of
# the process's pool, and HTTP keep-alive, so that nginx's upstream keep-alive saves a TCP
# accept and close per request. On one core this serves about twice the requests of sync
# workers at less CPU each (README "Benchmarks"). GUNICORN_THREADS=1 gives sync workers back.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
# One gthread process per core: its threads already cover waits on PostgreSQL. A second process
# on a core only splits the kept-alive connections unevenly between the two (28 and 4 of 32,
# measured), and the busier one's queue became the tail: p99 280-320 ms against 88 ms for one
# process, at a tenth less throughput. Sync workers keep the usual spare process.
workers = int(os.environ.get("WEB_CONCURRENCY",
                             multiprocessing.cpu_count() + (threads == 1)))
# A request slower than this is killed and its worker replaced (statement_timeout is lower).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (and on SIGHUP's worker rotation) in-flight requests get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Longer than nginx's upstream keepalive_timeout would close idle sockets under nginx's feet.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak cannot grow without bound. Rarely: a new worker
# imports and builds the app (0.7 s of CPU) and starts with cold caches, which every 10,000
# requests cost a GET by id a fifth of its CPU; worker memory stays flat (README "Benchmarks").
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "10000"))
# The app is built in each worker after the fork: no database connection or relay thread is
# ever shared between processes.
preload_app = False
proc_name = "ticketing"
# gunicorn's control socket has one default path per user, which several servers on one
# machine would fight over; it is opt-in here.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# The app writes one JSON line per request (with the request id); gunicorn's own access log
# is off unless GUNICORN_ACCESS_LOG names a file or "-", and then it carries the id as well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None


class _Logger(glogging.Logger):
    """Build access log lines only when asked for one.

    gunicorn formats every request's line whenever a logging config is given (ours below, for
    JSON), even with no access log to write it to: 5% of a GET's time.
    """

    def access(self, resp, req, environ, request_time) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = _Logger
# Plain text: under LOG_FORMAT=json the whole line becomes one properly escaped JSON string.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus request_id=%({x-request-id}o)s'

errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's own lines in the app's format (JSON, or the app's text layout under
# LOG_FORMAT=text), so that one stream reads the same throughout.
_formatter = ("ticketing.logformat.JsonFormatter"
              if os.environ.get("LOG_FORMAT", "json") == "json"
              else "ticketing.logformat.TextFormatter")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"app": {"()": _formatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "app",
                            "stream": "ext://sys.stderr"}},
    # The app adds its own root handler (with request ids) in each worker.
    "root": {"handlers": [], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(),
                           "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"] if accesslog else [], "level": "INFO",
                            "propagate": False},
    },
}

# Prometheus multiprocess mode: workers write samples here, /metrics sums them.
# One folder per listening address: a second server must not empty this one's.
_bind_slug = "".join(c if c.isalnum() else "-" for c in str(bind))
metrics_dir = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR")
                   or Path(tempfile.gettempdir()) / f"ticketing-metrics-{_bind_slug}")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
# It must exist before a worker imports the app.
metrics_dir.mkdir(parents=True, exist_ok=True)


def when_ready(server):
    """Once the address is ours: empty the metrics folder and say where everything is.

    Not earlier (on_starting): a second server that then fails to bind the same address
    would have emptied the running server's metrics.
    """
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for line in startup_lines(server):
        server.log.info(line)


def startup_lines(server) -> list[str]:
    from sqlalchemy.engine import make_url

    base = f"http://{bind}" if not str(bind).startswith("unix:") else str(bind)
    database = os.environ.get("DATABASE_URL", "")
    shown = make_url(database).render_as_string(hide_password=True) if database else "(unset)"
    return [f"ticketing: serving {base} with {workers} worker(s); API docs at {base}/docs, "
            f"OpenAPI at {base}/openapi.json; database {shown}"]


def post_worker_init(worker):
    """Start this worker's realtime relay (REALTIME_RELAY=thread) after the fork.

    Other apps served with this file (the benchmark's floor app) have no relay.
    """
    realtime = getattr(worker.wsgi, "extensions", {}).get("realtime")
    if realtime is not None:
        realtime.start()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
