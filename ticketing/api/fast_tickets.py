"""GET, POST and PATCH of tickets as the fast path (api/fast_path.py) answers them.

Each does what its Flask view in api/tickets.py does, with the same services, serializer,
messages and ETags: a read of one ticket (200, or 304 for a current If-None-Match), a page of
the list (its query string validated by the view's schema), a ticket created (201 with its
Location) and a ticket changed (If-Match checked under the row lock).
Only a POST without an Idempotency-Key is plain: a key's claim, replay and refusals stay
with the view's `@idempotent`.
"""

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from marshmallow import RAISE, Schema, ValidationError
from sqlalchemy.orm import Session
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import MapAdapter
from werkzeug.urls import iri_to_uri

from ..auth import Actor, Permission
from ..schemas.ticket import TicketCreateSchema, TicketQuerySchema, TicketUpdateSchema
from ..serialize import ticket_data
from ..services.common import parse_id
from ..services.tickets import create_ticket, read_ticket
from .common import Parser, json_bytes, ok, shared_schema
from .etags import etag_header, is_current
from .fast_path import FastRoute, Headers, entity_headers, json_body, url_rule
from .tickets import CREATED, FETCHED, UPDATED, tickets_page, update_ticket

TICKETS, TICKET = "tickets.Tickets", "tickets.TicketById"


class TicketRead:
    method, permission, endpoint = "GET", Permission.READ, TICKET

    def __init__(self, app: Flask) -> None:
        self.database = app.extensions["db"]
        self.path_prefix = ticket_path_prefix(app)

    def plain_request(self, environ: dict) -> uuid.UUID | None:
        return ticket_id_in(environ, self.path_prefix)

    def answer(self, environ: dict, ticket_id: uuid.UUID,
               _actor: Actor) -> tuple[int, bytes, Headers]:
        with self.database.reader() as reader:
            ticket = read_ticket(reader, ticket_id)
        etag = list(etag_header(ticket).items())
        if is_current(environ.get("HTTP_IF_NONE_MATCH"), ticket):
            return 304, b"", etag  # no body, nor its headers
        body = json_bytes(ok(FETCHED, ticket_data(ticket)))
        return 200, body, [*etag, *entity_headers(body)]


class TicketList:
    method, permission, endpoint = "GET", Permission.READ, TICKETS

    def __init__(self, app: Flask) -> None:
        self.database = app.extensions["db"]
        self.path = url_rule(app, TICKETS)
        self.schema = shared_schema(TicketQuerySchema)

    def plain_request(self, environ: dict) -> dict | None:
        if environ.get("PATH_INFO") != self.path:
            return None
        return validated(self.schema, query_arguments(environ, self.schema), unknown=RAISE)

    def answer(self, environ: dict, args: dict, _actor: Actor) -> tuple[int, bytes, Headers]:
        with self.database.reader() as reader:
            body = json_bytes(tickets_page(reader, args))
        return 200, body, entity_headers(body)


class TicketCreate:
    method, permission, endpoint = "POST", Permission.WRITE_TICKETS, TICKETS

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.path = url_rule(app, TICKETS)
        self.schema = shared_schema(TicketCreateSchema)
        self.max_length = app.config["MAX_CONTENT_LENGTH"]

    def plain_request(self, environ: dict) -> tuple[dict, MapAdapter] | None:
        if environ.get("PATH_INFO") != self.path or "HTTP_IDEMPOTENCY_KEY" in environ:
            return None
        data = validated(self.schema, json_body(environ, self.max_length))
        # The URL builder before the write: nothing may fail after the commit.
        urls = url_adapter(self.app, environ) if data is not None else None
        return (data, urls) if urls is not None else None

    def answer(self, environ: dict, plain: tuple[dict, MapAdapter],
               actor: Actor) -> tuple[int, bytes, Headers]:
        data, urls = plain
        with transaction(self.app) as session:
            ticket = create_ticket(session, data, actor)
            session.commit()
        location = urls.build(TICKET, {"ticket_id": ticket.id}, force_external=True)
        body = json_bytes(ok(CREATED, ticket_data(ticket)))
        # werkzeug sends a Location as a URI: iri_to_uri, as its Response does.
        return 201, body, [("Location", iri_to_uri(location)), *etag_header(ticket).items(),
                           *entity_headers(body)]


class TicketUpdate:
    method, permission, endpoint = "PATCH", Permission.WRITE_TICKETS, TICKET

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.path_prefix = ticket_path_prefix(app)
        self.schema = shared_schema(TicketUpdateSchema)
        self.max_length = app.config["MAX_CONTENT_LENGTH"]
        self.require_if_match = app.config["REQUIRE_IF_MATCH"]

    def plain_request(self, environ: dict) -> tuple[uuid.UUID, dict] | None:
        ticket_id = ticket_id_in(environ, self.path_prefix)
        if ticket_id is None:
            return None
        values = validated(self.schema, json_body(environ, self.max_length))
        return (ticket_id, values) if values is not None else None

    def answer(self, environ: dict, plain: tuple[uuid.UUID, dict],
               actor: Actor) -> tuple[int, bytes, Headers]:
        ticket_id, values = plain
        with transaction(self.app) as session:
            ticket = update_ticket(session, ticket_id, values, actor,
                                   environ.get("HTTP_IF_MATCH"), self.require_if_match)
        body = json_bytes(ok(UPDATED, ticket_data(ticket)))
        return 200, body, [*etag_header(ticket).items(), *entity_headers(body)]


def routes(app: Flask) -> list[FastRoute]:
    return [TicketRead(app), TicketList(app), TicketCreate(app), TicketUpdate(app)]


def ticket_path_prefix(app: Flask) -> str:
    return url_rule(app, TICKET).partition("<")[0]  # "/api/tickets/"


def ticket_id_in(environ: dict, path_prefix: str) -> uuid.UUID | None:
    """The ticket id of a path to one ticket by a well-formed id, else None."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith(path_prefix):
        return None
    segment = path[len(path_prefix):]
    if segment.endswith("/"):  # the URL map's strict_slashes is off
        segment = segment[:-1]
    return parse_id(segment) if segment and "/" not in segment else None


def validated(schema: Schema, document: Any, **load_options) -> dict | None:
    """The document loaded by the view's own schema; None when invalid (Flask then says why)."""
    if document is None:
        return None
    try:
        return schema.load(document, **load_options)
    except ValidationError:
        return None


def query_arguments(environ: dict, schema: Schema) -> MultiDictProxy | None:
    """The query string as webargs hands it to the list view's schema: parsed as werkzeug's
    `request.args` is, in the proxy that gives list fields all their values. None when it is
    not UTF-8 (Flask judges it)."""
    try:
        query = environ.get("QUERY_STRING", "").encode("latin-1").decode()
    except UnicodeError:
        return None
    args = ImmutableMultiDict(parse_qsl(query, keep_blank_values=True,
                                        errors="werkzeug.url_quote"))
    return MultiDictProxy(args, schema, known_multi_fields=tuple(Parser.KNOWN_MULTI_FIELDS))


def url_adapter(app: Flask, environ: dict) -> MapAdapter | None:
    """The URL builder Flask makes for this request (Flask.create_url_adapter), for url_for;
    None if the request's host or scheme will not do, for Flask to answer as it does."""
    try:
        return app.url_map.bind_to_environ(environ, server_name=app.config["SERVER_NAME"],
                                           subdomain=app.url_map.default_subdomain or "")
    except Exception:
        return None


@contextlib.contextmanager
def transaction(app: Flask) -> Iterator[Session]:
    """A session of its own for a write, in an app context (through which the outbox wakes
    the relay after the commit); closing it rolls back whatever was not committed."""
    with app.app_context(), app.extensions["db"].new_session() as session:
        yield session
