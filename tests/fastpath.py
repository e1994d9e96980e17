"""What tests/test_fast_read.py and tests/test_fast_write.py share: which requests reached
Flask behind the fast path (ticketing/api/fast_path.py), and how Flask alone answers."""

import contextlib
import threading

from sqlalchemy import create_engine, text

from ticketing.api.fast_path import FastPath
from ticketing.auth.limits import COUNTED_WINDOW


@contextlib.contextmanager
def flask_calls(app):
    """What reached Flask: (method, path, the window the fast path counted or None) each."""
    fast: FastPath = app.wsgi_app
    inner, seen = fast.flask_wsgi, []

    def recording(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                     environ.get(COUNTED_WINDOW)))
        return inner(environ, start_response)

    fast.flask_wsgi = recording
    try:
        yield seen
    finally:
        fast.flask_wsgi = inner


@contextlib.contextmanager
def flask_only(app):
    """The app without its fast path: how Flask alone answers."""
    fast = app.wsgi_app
    app.wsgi_app = fast.flask_wsgi
    try:
        yield
    finally:
        app.wsgi_app = fast


def fast_then_flask(app, client, method: str, paths: tuple[str, str], **kwargs):
    """The fast path's answer to the request on paths[0], and Flask's on paths[1]; the fast
    one must not have reached Flask."""
    with flask_calls(app) as seen:
        fast = client.open(paths[0], method=method, **kwargs)
    assert seen == [], "Flask answered a request the fast path should have"
    with flask_only(app):
        slow = client.open(paths[1], method=method, **kwargs)
    return fast, slow


def answer(response) -> tuple:
    return response.status, response.headers.to_wsgi_list(), response.get_data()


@contextlib.contextmanager
def tickets_locked(database_url: str):
    """The tickets table locked from another connection (ACCESS EXCLUSIVE, no read or write
    gets past it) until the block ends: with a short statement_timeout, requests fail."""
    locked, release = threading.Event(), threading.Event()

    def lock_the_table():
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(10)
        engine.dispose()

    blocker = threading.Thread(target=lock_the_table)
    blocker.start()
    try:
        locked.wait(10)
        yield
    finally:
        release.set()
        blocker.join()
