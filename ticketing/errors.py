"""One error envelope for every failure: `{"status": false, "message": ..., "errors": {...}}`."""

import logging

from flask import Flask, current_app
from psycopg2.errors import QueryCanceled
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
    422: "Validation failed",
    500: "Internal server error",
    503: "Service unavailable",
}

INVALID_JSON_ERRORS = {"body": ["Invalid JSON body."]}


class DomainError(Exception):
    """A failure the services report and the API turns into a response."""

    status = 400
    headers: dict[str, str] = {}

    def __init__(self, message: str, errors: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


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


def handle_domain_error(error: DomainError):
    return error_body(error.status, error.message, error.errors), error.status, error.headers


def unavailable(message: str):
    """A 503 the client may retry shortly."""
    return error_body(503, message), 503, {"Retry-After": "5"}


def handle_database_unavailable(error: sa_exc.SQLAlchemyError):
    # One line, no traceback: during an outage every request ends here.
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    log.error("database unavailable: %s", reason)
    return unavailable("Database unavailable, try again shortly")


def handle_unexpected(error: Exception):
    log.exception("unhandled exception", exc_info=error)
    errors = {"detail": [repr(error)]} if current_app.debug else None
    return error_body(500, errors=errors), 500


def is_connection_problem(error: sa_exc.DBAPIError) -> bool:
    return bool(error.connection_invalidated) or isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError
    )


def handle_database_error(error: sa_exc.DBAPIError):
    if isinstance(error.orig, QueryCanceled):
        log.error("query cancelled by statement_timeout: %s", error.statement)
        return unavailable("The database took too long to answer")
    if is_connection_problem(error):
        return handle_database_unavailable(error)
    return handle_unexpected(error)


def register_error_handlers(app: Flask) -> None:
    """HTTP errors are handled by the Api (see api.Api); these cover everything else."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
