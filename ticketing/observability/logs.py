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


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    # 32 random hex digits, as uuid4().hex but without building a UUID for each request.
    g.request_id = incoming if VALID_REQUEST_ID.match(incoming) else secrets.token_hex(16)
    g.request_started = time.perf_counter()


def _finish_request(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    if log.isEnabledFor(logging.INFO):  # LOG_LEVEL=warning: no line, so nothing to build
        _log_request(response)
    return response


def _log_request(response) -> None:
    duration_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    method, path, status = request.method, request.path, response.status_code
    fields = {
        "request_id": g.get("request_id"), "method": method, "path": path, "status": status,
        "duration_ms": round(duration_ms, 2), "remote_addr": request.remote_addr,
        # The header as sent: request.user_agent would parse it for nothing.
        "user_agent": request.headers.get("User-Agent") or None,
    }
    # The duration in the message too: text logs show only the message.
    log.info("%s %s %s %.1fms", method, path, status, duration_ms, extra=fields)


def init_app(app: Flask) -> None:
    if not app.testing:  # tests read logs through caplog
        configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.before_request(_start_request)
    app.after_request(_finish_request)
