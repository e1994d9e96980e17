"""The realtime extension: event outbox, publisher to Ably, relay."""

import atexit
import json
import os
import threading

from flask import Flask
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..errors import Unavailable
from .outbox import WAKE_KEY
from .publisher import AblyPublisher, make_publisher
from .relay import Relay, RelaySettings
from .settings import check_realtime_settings


class RealtimeState:
    """One app's publisher and relay, plus the relay thread of this process."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        check_realtime_settings(config)
        self.mode = config["REALTIME_RELAY"]
        self.channels = {"ticket": config["ABLY_CHANNEL"], "agent": config["ABLY_AGENTS_CHANNEL"]}
        self.publisher = make_publisher(config)
        self.relay = Relay(app.extensions["db"].engine, self.publisher, self.channels,
                           RelaySettings.from_config(config))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._exit_hook = False
        # Long enough for a round's requests to answer or time out.
        self.exit_grace = 2 * config["ABLY_TIMEOUT"] + 5

    def wake(self) -> None:
        """Ask the relay to publish soon (called after a commit that recorded events)."""
        if self.mode != "thread":
            return
        if not self._running_here():
            self.start()
        self._wake.set()

    def _running_here(self) -> bool:
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def start(self) -> None:
        """Start this process's relay thread (again, after a fork)."""
        if self.mode != "thread":
            return
        with self._lock:
            if self._running_here():
                return
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self.relay.run, args=(self._stop, self._wake),
                                            name="realtime-relay", daemon=True)
            self._thread.start()
            if not self._exit_hook:
                # A recycled gunicorn worker exits normally: let the relay end its round first
                # (a daemon thread would otherwise be cut off wherever it stands).
                atexit.register(self.stop, self.exit_grace)
                self._exit_hook = True

    def subscriber_token_request(self, ttl_seconds: int, client_id: str) -> dict:
        """An Ably TokenRequest for `client_id`: only subscribe and history on event channels."""
        if not isinstance(self.publisher, AblyPublisher):
            raise Unavailable("Realtime is not configured: set ABLY_API_KEY")
        capability = {channel: ["subscribe", "history"] for channel in self.channels.values()}
        request = self.publisher.token_request(capability, ttl_seconds, client_id)
        if isinstance(request.get("capability"), dict):
            request["capability"] = json.dumps(request["capability"])
        return request

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the relay thread: it sends no further request and records its round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)


def _wake_after_commit(session: Session) -> None:
    # Runs inside the commit: no SQL here, and a SAVEPOINT release is not the real commit.
    if session.in_nested_transaction():
        return
    wake = session.info.pop(WAKE_KEY, None)
    if wake is not None:
        wake()


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(WAKE_KEY, None)


class Realtime:
    def init_app(self, app: Flask) -> RealtimeState:
        state = app.extensions["realtime"] = RealtimeState(app)
        if not sa_event.contains(Session, "after_commit", _wake_after_commit):
            sa_event.listen(Session, "after_commit", _wake_after_commit)
            sa_event.listen(Session, "after_soft_rollback", lambda s, _t: _forget_after_rollback(s))
        from .cli import realtime_cli

        app.cli.add_command(realtime_cli)
        return state


realtime = Realtime()
