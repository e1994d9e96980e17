"""GET /api/tickets/<id> answered below Flask: the API's most frequent request, hand-tuned.

Flask's machinery around a request (contexts, routing, three hooks each side, flask-smorest's
and `requires`' wrappers, werkzeug's Request, Response and header objects) cost a GET by id
more CPU than everything it does, which kept it near half of what the same stack without the
framework serves (README "Hand-tuned paths"). This WSGI layer answers that one request
itself, for the plain case only: a valid credential this process already knows, a role that
may read, and the ticket found (a 200, or a 304 when If-None-Match names its version). It
calls the pieces the Flask hooks and view call (the credentials cache, the rate limiter, the
request id, the ticket's query and serializer, the ETag, metrics, the request log line,
flask-cors's headers), so both answer alike; tests/test_fast_read.py compares the two.

Every other request goes to Flask untouched, before anything has happened: other routes and
methods, a credential to look up or refuse. Once the rate limiter has counted the request,
anything else (over the limit, no such ticket, an error) is handed to Flask too, with the
counted window in the environ so that it is not counted twice, and with what failed the read,
which a before_request hook raises again: Flask's error handlers answer it and log it, once,
and the read is not run twice.
"""

import time
from collections.abc import Callable, Iterable

from flask import Flask, request

from ..auth import Actor, Permission
from ..auth.errors import InvalidCredential
from ..auth.guard import anonymous_actor, parse_bearer
from ..auth.limits import COUNTED_WINDOW, rate_limit_headers
from ..cors import cors_headers, cors_options
from ..observability.logs import REQUEST_ID_HEADER, REQUEST_STARTED, log_request, request_id_for
from ..observability.metrics import observe_request
from ..serialize import ticket_data
from ..services.common import parse_id
from ..services.tickets import read_ticket
from .common import JSON_TYPE, json_bytes, ok
from .etags import etag_header, is_current
from .tickets import FETCHED

ENDPOINT = "tickets.TicketById"
# The environ key with what failed a read the fast path then handed to Flask.
READ_FAILURE = "ticketing.ticket_read_failure"
STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED"}  # werkzeug's

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class FastTicketRead:
    """WSGI middleware in front of the Flask app (`app.wsgi_app`)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApp) -> None:
        self.flask_wsgi = flask_wsgi
        (rule,) = app.url_map.iter_rules(ENDPOINT)
        self.endpoint = rule.rule  # the metrics label the Flask path gives it
        self.path_prefix = rule.rule.partition("<")[0]  # "/api/tickets/"
        self.credentials = app.extensions["auth"]
        self.limiter = app.extensions.get("rate_limiter")
        self.database = app.extensions["db"]
        self.anonymous_role = app.config["AUTH_ANONYMOUS_ROLE"]
        self.cors = cors_options(app)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        ticket_id = self.plain_ticket_read(environ)
        actor = self.known_reader(environ) if ticket_id is not None else None
        if actor is None:
            return self.flask_wsgi(environ, start_response)
        return self.answer(environ, start_response, ticket_id, actor)

    def plain_ticket_read(self, environ: dict):
        """The ticket id of a GET of one ticket by a well-formed id, else None."""
        if environ["REQUEST_METHOD"] != "GET":
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.path_prefix):
            return None
        segment = path[len(self.path_prefix):]
        if segment.endswith("/"):  # the URL map's strict_slashes is off
            segment = segment[:-1]
        return parse_id(segment) if segment and "/" not in segment else None

    def known_reader(self, environ: dict) -> Actor | None:
        """The caller, when it is known without a lookup and may read; else None."""
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
        return actor if actor is not None and actor.can(Permission.READ) else None

    def answer(self, environ: dict, start_response: Callable, ticket_id, actor: Actor):
        started = time.perf_counter()
        window = self.limiter.count_hit(actor, environ.get("REMOTE_ADDR")) \
            if self.limiter is not None else None
        found = failure = None
        if window is None or not window.exceeded:
            try:
                found = self.ticket_answer(ticket_id, environ.get("HTTP_IF_NONE_MATCH"))
            except Exception as error:  # NotFound, a database error: Flask's handlers answer
                failure = error
        if found is None:
            environ.update({COUNTED_WINDOW: window, REQUEST_STARTED: started,
                            READ_FAILURE: failure})
            return self.flask_wsgi(environ, start_response)
        status, body, etag = found
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        # In the order the Flask path sends them; a 304 has no body, nor its headers.
        entity = [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))] \
            if status == 200 else []
        headers = [*etag.items(), *entity,
                   *(rate_limit_headers(window, status) if window is not None else ()),
                   (REQUEST_ID_HEADER, request_id),
                   *(cors_headers(self.cors, environ, "GET") if self.cors else ())]
        start_response(STATUS_LINES[status], headers)
        observe_request("GET", self.endpoint, status, started, self.database)
        log_request(request_id, environ, status, started)
        return [body]

    def ticket_answer(self, ticket_id, if_none_match: str | None) -> tuple:
        """(status, body, ETag header): a 200 with the ticket, or a 304 when If-None-Match
        names its version."""
        with self.database.reader() as reader:
            ticket = read_ticket(reader, ticket_id)
        if is_current(if_none_match, ticket):
            return 304, b"", etag_header(ticket)
        return 200, json_bytes(ok(FETCHED, ticket_data(ticket))), etag_header(ticket)


def raise_read_failure() -> None:
    """before_request: raise what failed the fast path's read of this request (no such
    ticket, a database error), for Flask's error handlers to answer and log, once."""
    failure = request.environ.pop(READ_FAILURE, None)
    if failure is not None:
        raise failure


def install(app: Flask) -> None:
    """Put the fast path in front of the app's Flask request handling (after init_api, and
    after the authentication and rate limit hooks: a failure is raised after them)."""
    app.wsgi_app = FastTicketRead(app, app.wsgi_app)
    app.before_request(raise_read_failure)
