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


def get_or_404(session: Session, model, raw_id, message: str, *, lock: bool = False):
    """Load a row by id (malformed ids are simply not found); `lock` takes a row lock."""
    resource_id = parse_id(raw_id)
    resource = None
    if resource_id is not None:
        resource = session.get(model, resource_id, with_for_update=lock or None)
    if resource is None:
        raise NotFound(message)
    return resource


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
