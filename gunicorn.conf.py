"""Gunicorn settings for `make run` and production (see README "Deployment")."""

import multiprocessing
import os

port = os.environ.get("PORT", "8000")
bind = os.environ.get("BIND", f"127.0.0.1:{port}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# The app is built in each worker after the fork, so no connection is shared across processes.
preload_app = False
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
