"""`flask realtime status` and `flask realtime relay`."""

import json
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from .status import backlog

realtime_cli = AppGroup("realtime", help="Realtime event publication.")


@realtime_cli.command("status")
def status() -> None:
    """Show pending events, the oldest pending age, failures and the last error."""
    state = current_app.extensions["realtime"]
    with Session(current_app.extensions["db"].engine) as session:
        report = backlog(session)
    report["publisher"] = type(state.publisher).__name__
    report["channels"] = state.channels
    click.echo(json.dumps(report, indent=2))


@realtime_cli.command("relay")
def relay() -> None:
    """Publish events until SIGTERM or Ctrl-C (for a relay apart from the web workers)."""
    state = current_app.extensions["realtime"]
    stop, wake = threading.Event(), threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"relay publishing to {state.channels} with {type(state.publisher).__name__}")
    state.relay.run(stop, wake)
