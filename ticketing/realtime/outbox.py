"""Record events in the transaction that makes the change (a transactional outbox)."""

import enum
import uuid
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import bindparam, insert
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..driver_sql import DriverStatement, fetch_all, json_value
from ..models import Event
from ..schemas.agent import AgentSchema
from ..serialize import ticket_data

SNAPSHOTS = {"ticket": ticket_data, "agent": AgentSchema().dump}
WAKE_KEY = "realtime_wake"
# A Core INSERT sent at once on the driver's cursor (driver_sql.py), not an Event entity
# flushed at commit: the unit of work cost more than the rest of recording an event, and
# SQLAlchemy's execute three times the driver's. Nothing reads the row back (inline: no
# RETURNING of its id).
EVENT_COLUMNS = ("name", "resource_type", "resource_id", "version", "payload", "actor")
INSERT_EVENT = DriverStatement.of(
    insert(Event.__table__).inline().values({column: bindparam(column)
                                             for column in EVENT_COLUMNS}))


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _ticket_fields(ticket, changes: dict) -> dict:
    """What the reference API sent (ticketId, status) plus the status change, if any."""
    status_change = changes.get("status")
    return {
        "ticketId": str(ticket.id),
        "status": jsonable(ticket.status),
        "status_changed": status_change is not None,
        "previous_status": jsonable(status_change["from"]) if status_change else None,
    }


def _payload(resource_type: str, resource, changes: dict) -> dict:
    payload = {f"{resource_type}Id": str(resource.id)}
    if resource_type == "ticket":
        payload.update(_ticket_fields(resource, changes))
    payload[resource_type] = SNAPSHOTS[resource_type](resource)
    payload["changes"] = jsonable(changes)
    return payload


def record(session: Session, action: str, resource_type: str, resource,
           changes: dict | None = None, *, actor: Actor, name: str | None = None,
           extra: dict | None = None) -> None:
    """Insert the `<resource_type>_<action>` event describing `resource` as it is now, by `actor`.

    `resource` is an entity or a row of its columns. `name` replaces that event name (a
    comment change is `comment_created` in its ticket's stream) and `extra` adds fields to
    the payload. Call after the change is flushed (or executed), so that the resource's row
    lock (taken by the UPDATE or DELETE) orders this event after every earlier event of the
    same resource. Changes still pending on entities are flushed first, as Session.execute
    would (driver_sql.fetch_all).
    """
    version = resource.version + 1 if action == "deleted" else resource.version
    payload = _payload(resource_type, resource, changes or {}) | jsonable(extra or {})
    fetch_all(session, INSERT_EVENT, {
        "name": name or f"{resource_type}_{action}", "resource_type": resource_type,
        "resource_id": resource.id, "version": version, "payload": json_value(payload),
        "actor": json_value(actor.as_event())})
    _wake_relay_after_commit(session)


def _wake_relay_after_commit(session: Session) -> None:
    if has_app_context() and "realtime" in current_app.extensions:
        session.info[WAKE_KEY] = current_app.extensions["realtime"].wake


def message_data(event: Event) -> dict:
    """The event as subscribers and the feed see it."""
    return {
        "event_id": str(event.event_id),
        "event": event.name,
        "occurred_at": event.occurred_at.isoformat(),
        "version": event.version,
        "actor": event.actor,
        **event.payload,
    }
