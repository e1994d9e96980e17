"""The API's most frequent requests answered below Flask: hand-tuned, for the plain case only.

Flask's machinery around a request (contexts, routing, three hooks each side, flask-smorest's,
webargs' and `requires`' wrappers, werkzeug's Request, Response and header objects) cost a GET
by id more CPU than everything it does, and a write a third of its CPU, which kept the API far
from what the same stack without the framework serves (README "Hand-tuned paths"). This WSGI
layer answers a few requests itself (api/fast_tickets.py: GET, POST and PATCH of tickets), for
the plain case only: a valid credential this process already knows, a role allowed to make the
request, a well-formed JSON body that validates, and success. It calls the pieces the Flask
hooks and views call (the credentials cache, the rate limiter, the request id, the views'
services, serializers and ETags, metrics, the request log line, flask-cors's headers), so both
answer alike; tests/test_fast_read.py and tests/test_fast_write.py compare the two.

Every other request goes to Flask untouched, before anything has happened: other routes and
methods, a credential to look up or refuse, a body Flask must refuse (its body is put back for
Flask to read). Once the rate limiter has counted the request, anything else (over the limit,
no such ticket, a failed If-Match, a database error) is handed to Flask too, with the counted
window in the environ so that it is not counted twice, and with what failed, which a
before_request hook raises again: Flask's error handlers answer it and log it, once, and the
work is not run twice. A write that failed was rolled back before the hand-over.
"""

import io
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from flask import Flask, request
from webargs.core import parse_json
from werkzeug.http import parse_options_header

from ..auth import Actor, Permission
from ..auth.errors import InvalidCredential
from ..auth.guard import anonymous_actor, parse_bearer
from ..auth.limits import COUNTED_WINDOW, rate_limit_headers
from ..cors import cors_headers, cors_options
from ..observability.logs import REQUEST_ID_HEADER, REQUEST_STARTED, log_request, request_id_for
from ..observability.metrics import observe_request
from .common import JSON_TYPE, retry_transient_failure

# The environ key with what failed a request the fast path then handed to Flask.
FAILURE = "ticketing.fast_path_failure"
STATUS_LINES = {200: "200 OK", 201: "201 CREATED", 304: "304 NOT MODIFIED"}  # werkzeug's

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Headers = list[tuple[str, str]]


class FastRoute(Protocol):
    """One request the fast path answers (api/fast_tickets.py)."""

    method: str
    permission: Permission
    endpoint: str  # the Flask endpoint whose URL rule labels the request's metrics

    def plain_request(self, environ: dict) -> Any | None:
        """What the answer needs from the request (an id, a validated body) when it is plain;
        None sends it to Flask. Must change nothing, and put back a body it read."""

    def answer(self, environ: dict, plain: Any, actor: Actor) -> tuple[int, bytes, Headers]:
        """(status, body, the headers before the common ones); raises what Flask must answer."""


class FastPath:
    """WSGI middleware in front of the Flask app (`app.wsgi_app`)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApp, routes: list[FastRoute]) -> None:
        self.flask_wsgi = flask_wsgi
        self.routes: dict[str, list[FastRoute]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append(route)
        # The metrics label the Flask path gives each route: its URL rule.
        self.labels = {route: url_rule(app, route.endpoint) for route in routes}
        # A deadlock or serialization failure is retried once, as the Flask views are; each
        # answer's transaction is its own, already rolled back when the failure comes out.
        self.answers = {route: retry_transient_failure(route.answer, rollback=_nothing)
                        for route in routes}
        self.credentials = app.extensions["auth"]
        self.limiter = app.extensions.get("rate_limiter")
        self.database = app.extensions["db"]
        self.anonymous_role = app.config["AUTH_ANONYMOUS_ROLE"]
        self.cors = cors_options(app)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        route, plain = self.plain_request(environ)
        actor = self.known_caller(environ, route.permission) if plain is not None else None
        if actor is None:
            return self.flask_wsgi(environ, start_response)
        window = self.limiter.count_hit(actor, environ.get("REMOTE_ADDR")) \
            if self.limiter is not None else None
        answer = failure = None
        if window is None or not window.exceeded:
            try:
                answer = self.answers[route](environ, plain, actor)
            except Exception as error:  # NotFound, a refused write, a database error
                failure = error
        if answer is None:
            environ.update({COUNTED_WINDOW: window, REQUEST_STARTED: started, FAILURE: failure})
            return self.flask_wsgi(environ, start_response)
        status, body, headers = answer
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        # After the route's own, in the order the Flask path's after_request hooks add them.
        headers += [*(rate_limit_headers(window, status) if window is not None else ()),
                    (REQUEST_ID_HEADER, request_id),
                    *(cors_headers(self.cors, environ, route.method) if self.cors else ())]
        start_response(STATUS_LINES[status], headers)
        observe_request(route.method, self.labels[route], status, started, self.database)
        log_request(request_id, environ, status, started)
        return [body]

    def plain_request(self, environ: dict) -> tuple[FastRoute | None, Any | None]:
        """The route that answers this request and what it needs, when it is plain."""
        for route in self.routes.get(environ["REQUEST_METHOD"], ()):
            plain = route.plain_request(environ)
            if plain is not None:
                return route, plain
        return None, None

    def known_caller(self, environ: dict, permission: Permission) -> Actor | None:
        """The caller, when it is known without a lookup and has `permission`; else None."""
        try:
            credential = parse_bearer(environ.get("HTTP_AUTHORIZATION"))
        except InvalidCredential:
            return None
        if credential is not None:
            actor = self.credentials.cached_actor(credential)
        elif self.anonymous_role:
            actor = anonymous_actor(self.anonymous_role, environ.get("REMOTE_ADDR"))
        else:
            actor = None
        return actor if actor is not None and actor.can(permission) else None


def url_rule(app: Flask, endpoint: str) -> str:
    """The URL rule of a Flask endpoint ("/api/tickets/<ticket_id>")."""
    return next(app.url_map.iter_rules(endpoint)).rule


def _nothing() -> None:
    pass


def entity_headers(body: bytes) -> Headers:
    """Content-Type and Content-Length of a JSON body, as a Flask view's Response has them."""
    return [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))]


def json_body(environ: dict, max_length: int | None) -> Any | None:
    """The request's JSON document when the body is plainly one: labelled application/json,
    of a stated length within MAX_CONTENT_LENGTH, and parsed; else None.

    Read as the views read it: the media type as werkzeug parses it, the body as webargs
    parses it (UTF-8, then json.loads; orjson, a few microseconds faster, would read integers
    below -2**63 as floats). A body read is put back in the environ, for Flask to read if the
    request goes there.
    """
    media_type, _options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if media_type.lower() != JSON_TYPE:
        return None
    length = environ.get("CONTENT_LENGTH", "")
    if not (length.isascii() and length.isdigit()):  # chunked, or a length Flask must refuse
        return None
    length = int(length)
    if length == 0 or (max_length is not None and length > max_length):
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    if len(body) != length:  # the client hung up: Flask's stream says so
        return None
    try:
        return parse_json(body)
    except (ValueError, RecursionError):  # not UTF-8, or not JSON
        return None


def raise_failure() -> None:
    """before_request: raise what failed the fast path's answer to this request (no such
    ticket, a refused write, a database error), for Flask's error handlers to answer and log,
    once."""
    failure = request.environ.pop(FAILURE, None)
    if failure is not None:
        raise failure


def install(app: Flask, routes: list[FastRoute]) -> None:
    """Put the fast path in front of the app's Flask request handling (after init_api, and
    after the authentication and rate limit hooks: a failure is raised after them)."""
    app.wsgi_app = FastPath(app, app.wsgi_app, routes)
    app.before_request(raise_failure)
