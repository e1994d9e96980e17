"""`flask realtime status|retry|prune|relay`."""

import json
import signal
import threading
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event
from .relay import requeue
from .retention import prune as prune_events
from .status import backlog

realtime_cli = AppGroup("realtime", help="Realtime event publication.")
FAILED_SHOWN = 20


def _engine():
    return current_app.extensions["db"].engine


def _failed_events(session: Session) -> list[dict]:
    rows = session.scalars(select(Event).where(Event.failed_at.is_not(None))
                           .order_by(Event.id.desc()).limit(FAILED_SHOWN)).all()
    return [{"id": event.id, "event_id": str(event.event_id), "event": event.name,
             "resource": f"{event.resource_type}:{event.resource_id}",
             "attempts": event.attempts, "failed_at": event.failed_at.isoformat(),
             "last_error": event.last_error} for event in rows]


@realtime_cli.command("status")
def status() -> None:
    """Show pending, waiting and failed events, the feed's lag and the last errors."""
    state = current_app.extensions["realtime"]
    with Session(_engine()) as session:
        report = backlog(session)
        report["recent_failed"] = _failed_events(session)
    report["publisher"] = type(state.publisher).__name__
    report["channels"] = state.channels
    click.echo(json.dumps(report, indent=2))


def _resource(value: str | None) -> tuple[str, uuid.UUID] | None:
    if value is None:
        return None
    kind, _, raw_id = value.partition(":")
    try:
        return kind, uuid.UUID(raw_id)
    except ValueError:
        raise click.BadParameter("expected TYPE:UUID, e.g. ticket:3f1c...",
                                 param_hint="--resource") from None


def _event_ids(values: tuple[str, ...]) -> tuple[list[int], list[uuid.UUID]]:
    numbers, uuids = [], []
    for value in values:
        try:
            (numbers.append(int(value)) if value.isascii() and value.isdigit()
             else uuids.append(uuid.UUID(value)))
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither an event number nor an event_id",
                                     param_hint="--event") from None
    return numbers, uuids


@realtime_cli.command("retry")
@click.option("--all", "everything", is_flag=True, help="Re-queue every failed event.")
@click.option("--event", "events", multiple=True, help="An event's id or event_id (repeatable).")
@click.option("--resource", help="TYPE:UUID: that resource's failed events, e.g. ticket:<id>.")
def retry(everything: bool, events: tuple[str, ...], resource: str | None) -> None:
    """Re-queue failed events for publication (with a fresh count of attempts)."""
    if not (everything or events or resource):
        raise click.UsageError("say which failed events: --all, --event ID or --resource T:ID")
    numbers, uuids = _event_ids(events)
    with Session(_engine()) as session, session.begin():
        count = requeue(session, numbers=numbers, uuids=uuids, resource=_resource(resource))
    click.echo(f"re-queued {count} failed event(s)")


@realtime_cli.command("prune")
@click.option("--days", type=click.IntRange(min=1),
              help="Keep this many days (default EVENTS_RETENTION_DAYS).")
def prune(days: int | None) -> None:
    """Delete published or failed events older than the retention, in small batches."""
    days = days or current_app.config["EVENTS_RETENTION_DAYS"]
    deleted = prune_events(_engine(), days)
    click.echo(f"deleted {deleted} event(s) older than {days} days")


@realtime_cli.command("relay")
def relay() -> None:
    """Publish events until SIGTERM or Ctrl-C (for a relay apart from the web workers)."""
    state = current_app.extensions["realtime"]
    stop, wake = threading.Event(), threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"relay publishing to {state.channels} with {type(state.publisher).__name__}")
    state.relay.run(stop, wake)
