"""One error envelope for every failure: `{"status": false, "message": ..., "errors": {...}}`."""

import logging
import traceback

from flask import Flask, current_app
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Messages for the statuses clients meet most; others fall back to werkzeug's phrase.
MESSAGES = {
    400: "Malformed request",
    404: "Resource not found",
    405: "Method not allowed",
    401: "Authentication required",
    403: "Not permitted",
    413: "Request body too large",
    415: "Unsupported media type",
    412: "Precondition failed",
    428: "Precondition required",
    422: "Validation failed",
    500: "Internal server error",
    503: "Service unavailable",
}

INVALID_JSON_ERRORS = {"body": ["Invalid JSON body."]}


class DomainError(Exception):
    """A failure the services report and the API turns into a response."""

    status = 400
    headers: dict[str, str] = {}

    def __init__(self, message: str, errors: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.headers = {**type(self).headers, **(headers or {})}  # class defaults, then these


class Unauthorized(DomainError):
    """No usable credential: missing, invalid or expired (RFC 6750)."""

    status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="ticketing"'}


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Unprocessable(DomainError):
    status = 422


class Unavailable(DomainError):
    status = 503


class PreconditionFailed(DomainError):
    status = 412


class PreconditionRequired(DomainError):
    status = 428


def error_body(status: int, message: str | None = None, errors: dict | None = None) -> dict:
    return {
        "status": False,
        "message": message or MESSAGES.get(status, "Request failed"),
        "errors": errors or {},
    }


def flatten_locations(messages: dict) -> dict:
    """Turn webargs' `{"json": {"field": [...]}}` into `{"field": [...]}`."""
    flat: dict = {}
    for location, value in messages.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[location] = value
    return flat


def http_error_body(error: HTTPException) -> dict:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or flatten_locations(data.get("messages") or {})
    message = data.get("message")
    if error.code == 400 and errors == {"json": ["Invalid JSON body."]}:
        message, errors = "Malformed JSON body", INVALID_JSON_ERRORS
    if error.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"Request body too large: the limit is {limit} bytes"
    return error_body(error.code or 500, message, errors)


def http_error_headers(error: HTTPException) -> dict:
    """Headers the status calls for (`Allow` on 405, RFC 9110) plus any the raiser set."""
    headers = {}
    valid_methods = getattr(error, "valid_methods", None)
    if error.code == 405 and valid_methods:
        headers["Allow"] = ", ".join(sorted(valid_methods))
    data = getattr(error, "data", None) or {}
    headers.update(data.get("headers") or {})
    return headers


def handle_domain_error(error: DomainError):
    return error_body(error.status, error.message, error.errors), error.status, error.headers


def unavailable(message: str, retry_after: int = 5):
    """A 503 the client may retry shortly."""
    return error_body(503, message), 503, {"Retry-After": str(retry_after)}


# SQLSTATE (or its two-character class) -> what the client is told; all may be retried.
# https://www.postgresql.org/docs/current/errcodes-appendix.html
TRANSIENT_FAILURES = {
    "40P01": ("A concurrent request deadlocked with this one; retry it", 1),
    "40001": ("A concurrent request changed the same data; retry it", 1),
    "55P03": ("A record this request needs is locked by another request; retry shortly", 2),
    "57014": ("The database took too long to answer", 5),
    "53": ("The database is short of resources (disk, memory or connections)", 30),
}
# Aborted before any effect: running the request once more is safe and usually succeeds.
RETRY_ONCE = {"40P01", "40001"}


def sqlstate(error: BaseException) -> str | None:
    return getattr(getattr(error, "orig", None), "pgcode", None)


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, sa_exc.DBAPIError) and sqlstate(error) in RETRY_ONCE


def _transient(code: str | None) -> tuple[str, int] | None:
    if code is None:
        return None
    return TRANSIENT_FAILURES.get(code) or TRANSIENT_FAILURES.get(code[:2])


def _first_line(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def handle_database_unavailable(error: sa_exc.SQLAlchemyError):
    # One line, no traceback: during an outage every request ends here.
    log.error("database unavailable: %s", _first_line(error))
    return unavailable("Database unavailable, try again shortly")


def handle_unexpected(error: Exception):
    log.exception("unhandled exception", exc_info=error)
    errors = {"detail": [repr(error)]} if current_app.debug else None
    return error_body(500, errors=errors), 500


def log_database_error(error: sa_exc.DBAPIError, message: str) -> None:
    """Log the statement and the error code, never values: neither the parameters nor
    PostgreSQL's message, which quotes them ('invalid input syntax for type uuid: "..."')."""
    stack = "".join(traceback.format_tb(error.__traceback__))
    detail = f": {_first_line(error)}" if current_app.debug else ""
    log.error("%s: SQLSTATE %s %s%s", message, sqlstate(error), type(error.orig).__name__,
              detail, extra={"sql": error.statement, "stack": stack})


def is_connection_problem(error: sa_exc.DBAPIError) -> bool:
    return bool(error.connection_invalidated) or isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError
    )


def handle_database_error(error: sa_exc.DBAPIError):
    transient = _transient(sqlstate(error))
    if transient is not None:
        log_database_error(error, "database refused the request")
        return unavailable(*transient)
    if is_connection_problem(error):
        return handle_database_unavailable(error)
    log_database_error(error, "unexpected database error")
    errors = {"detail": [_first_line(error)]} if current_app.debug else None
    return error_body(500, errors=errors), 500


def register_error_handlers(app: Flask) -> None:
    """HTTP errors are handled by the Api (see api.Api); these cover everything else."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
