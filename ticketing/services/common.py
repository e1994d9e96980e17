"""Helpers the resource services share: lookups, change sets, constraint errors."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, Unprocessable

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


def apply_changes(resource, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set the values that differ; return them as {field: {"from": old, "to": new}}."""
    changes = {}
    for field, new in values.items():
        old = getattr(resource, field)
        if old != new:
            setattr(resource, field, new)
            changes[field] = {"from": old, "to": new}
    if changes:
        resource.touch()
    return changes


def flush(session: Session) -> None:
    """Flush, turning constraint violations into the errors clients should see."""
    try:
        session.flush()
    except IntegrityError as error:
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        make_error = CONSTRAINT_ERRORS.get(constraint)
        if make_error is None:
            raise Unprocessable("The data breaks a database rule", {}) from error
        raise make_error() from error
