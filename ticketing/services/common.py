"""Helpers the resource services share: lookups, row locks, change sets, constraint errors."""

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..driver_sql import DriverStatement, fetch_all
from ..errors import Conflict, DomainError, NotFound, Unprocessable

# Constraint name -> the error a client should see when the database rejects a write.
CONSTRAINT_ERRORS = {
    "fk_tickets_assigned_to_agents": lambda: Unprocessable(
        "Unknown agent", {"assigned_to": ["No agent with this id."]}
    ),
    "uq_agents_email_lower": lambda: Conflict(
        "An agent with this email already exists", {"email": ["Already in use."]}
    ),
    "uq_agents_user_id": lambda: Conflict(
        "Another agent already has this user id", {"user_id": ["Already in use."]}
    ),
}


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


# session.info key: the row locks taken in the session's current transaction.
LOCKED = "locked_rows"


def get_or_404(session: Session, model, raw_id, message: str, *, lock: bool = False):
    """Load a row by id (malformed ids are simply not found); `lock` takes a row lock.

    A row this transaction has already locked is not selected again: a PATCH checks If-Match
    on the locked ticket, then the service asks for the same lock (one round trip less).
    """
    resource_id = parse_id(raw_id)
    resource = None
    if resource_id is not None:
        if lock and _holds_lock(session, model, resource_id):
            resource = session.get(model, resource_id)
        else:
            resource = session.get(model, resource_id, with_for_update=lock or None)
    if resource is None:
        raise NotFound(message)
    if lock:
        _locks_of_this_transaction(session).add((model, resource_id))
    return resource


def _locks_of_this_transaction(session: Session) -> set:
    # Keyed on the transaction object: a commit or rollback starts a new one, whose locks
    # start empty, so a lock is never assumed once it was released.
    transaction = session.get_transaction()
    held = session.info.get(LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[LOCKED] = (transaction, set())
    return held[1]


def _holds_lock(session: Session, model, resource_id) -> bool:
    return (session.get_transaction() is not None
            and (model, resource_id) in _locks_of_this_transaction(session))


def lock_row(session: Session, model, raw_id, message: str, query: DriverStatement) -> tuple:
    """The row `query` (a select by `%(id)s`, FOR UPDATE) returns, under its row lock, as the
    driver's tuple.

    For writes done in Core: no instance is loaded. Pending changes are flushed first
    (driver_sql.fetch_all, as Session.execute would), so the row read includes changes still
    pending on an instance of it. The lock is noted: get_or_404 does not select the row FOR
    UPDATE again.
    """
    resource_id = parse_id(raw_id)
    rows = []
    if resource_id is not None:
        rows = fetch_all(session, query, {"id": resource_id})
    if not rows:
        raise NotFound(message)
    _locks_of_this_transaction(session).add((model, resource_id))
    return rows[0]


def refresh_loaded(session: Session, model, resource_id: uuid.UUID, *,
                   deleted: bool = False) -> None:
    """After a Core statement changed (or deleted) a row, the session's instance of it, if
    it holds one, must not show the old values: expired, it reloads when next read; a
    deleted row's is forgotten."""
    instance = session.identity_map.get(session.identity_key(model, resource_id))
    if instance is None:
        return
    if deleted:
        session.expunge(instance)
    else:
        session.expire(instance)


def differences(values: dict[str, Any],
                current: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """The values that differ from `current(field)`, as {field: {"from": old, "to": new}}."""
    changes = {}
    for field, new in values.items():
        old = current(field)
        if old != new:
            changes[field] = {"from": old, "to": new}
    return changes


def apply_changes(resource, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set the values that differ; return them as {field: {"from": old, "to": new}}."""
    changes = differences(values, lambda field: getattr(resource, field))
    for field, change in changes.items():
        setattr(resource, field, change["to"])
    if changes:
        resource.touch()
    return changes


def flush(session: Session) -> None:
    """Flush, turning constraint violations into the errors clients should see."""
    try:
        session.flush()
    except IntegrityError as error:
        raise client_error(error) from error


def execute(session: Session, statement: DriverStatement, params: dict) -> list:
    """Run a Core write in the session's transaction, on the driver's cursor
    (driver_sql.fetch_all); the rows it returns. Constraint violations as in flush().

    The failed statement aborted the transaction, so it is rolled back here, as a failed
    flush rolls back the session's.
    """
    try:
        return fetch_all(session, statement, params)
    except IntegrityError as error:
        session.rollback()
        raise client_error(error) from error


def client_error(error: IntegrityError) -> DomainError:
    """The error a client should see for a write the database refused."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    make_error = CONSTRAINT_ERRORS.get(constraint)
    if make_error is None:
        return Unprocessable("The data breaks a database rule", {})
    return make_error()
