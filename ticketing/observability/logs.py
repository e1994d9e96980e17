"""One JSON log line per request, and a request id that follows the request everywhere."""

import logging
import re
import secrets
import sys
import time

from flask import Flask, g, has_request_context, request

from ..logformat import JsonFormatter, TextFormatter

log = logging.getLogger("ticketing.request")

REQUEST_ID_HEADER = "X-Request-ID"
# The environ key with the perf_counter time at which api/fast_path.py began a request it then
# handed to Flask, so that the logged duration covers the whole request.
REQUEST_STARTED = "ticketing.request_started"
# Accept ids from clients and proxies only when harmless in logs and headers.
# Same pattern as deploy/nginx.conf, so nginx's and the app's log lines share the id.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


def make_handler(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def skip_unused_record_fields() -> None:
    """Leave out of log records what no formatter here prints: the caller's file and line
    (logging walks up the stack for them on every line), and the thread's and process's names.
    The switches the logging HOWTO's "Optimization" section lists; a fifth of a request's line."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(level: str, log_format: str) -> None:
    skip_unused_record_fields()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "ticketing", False):
            root.removeHandler(existing)
    handler = make_handler(log_format)
    handler.ticketing = True
    root.addHandler(handler)
    root.setLevel(level)


def request_id_for(incoming: str | None) -> str:
    """The client's or proxy's id when it is harmless, else a new one."""
    if incoming and VALID_REQUEST_ID.match(incoming):
        return incoming
    # 32 random hex digits, as uuid4().hex but without building a UUID for each request.
    return secrets.token_hex(16)


def _start_request() -> None:
    environ = request.environ
    g.request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
    # Set when api/fast_path.py began the request and handed it over.
    g.request_started = environ.get(REQUEST_STARTED) or time.perf_counter()


def _finish_request(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    log_request(g.get("request_id"), request.environ, response.status_code,
                g.get("request_started", time.perf_counter()))
    return response


def log_request(request_id: str | None, environ: dict, status: int, started: float) -> None:
    """The request's line: method, path, status, duration (from perf_counter `started`)."""
    if not log.isEnabledFor(logging.INFO):  # LOG_LEVEL=warning: no line, so nothing to build
        return
    duration_ms = (time.perf_counter() - started) * 1000
    method, path = environ["REQUEST_METHOD"], request_path(environ)
    fields = {
        "request_id": request_id, "method": method, "path": path, "status": status,
        "duration_ms": round(duration_ms, 2), "remote_addr": environ.get("REMOTE_ADDR"),
        # The header as sent: parsing it would cost for nothing.
        "user_agent": environ.get("HTTP_USER_AGENT") or None,
    }
    # The duration in the message too: text logs show only the message.
    log.info("%s %s %s %.1fms", method, path, status, duration_ms, extra=fields)


def request_path(environ: dict) -> str:
    """The path as Flask's request.path gives it: decoded UTF-8, with its leading slash."""
    raw = environ.get("PATH_INFO", "")
    return "/" + raw.encode("latin-1").decode("utf-8", "replace").lstrip("/")


def init_app(app: Flask) -> None:
    if not app.testing:  # tests read logs through caplog
        configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.before_request(_start_request)
    app.after_request(_finish_request)
