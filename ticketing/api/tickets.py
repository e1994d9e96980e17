"""/tickets: create, list, read, update and delete support tickets."""

from flask import current_app, request, url_for
from flask.views import MethodView
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..auth import Actor, Permission, current_actor, requires
from ..db import db
from ..idempotency import idempotent
from ..schemas.common import MessageEnvelopeSchema, envelope
from ..schemas.ticket import (
    TicketCreateSchema,
    TicketQuerySchema,
    TicketSchema,
    TicketUpdateSchema,
)
from ..serialize import ticket_data
from ..services import tickets as service
from ..services.ticket_queries import TicketRow
from . import comments
from .common import Blueprint, documents_errors, json_response, ok, page
from .etags import (
    check_if_match,
    documents_conditional_read,
    documents_conditional_write,
    etag_header,
    not_modified,
    require_match,
)

# The views' messages, which api/fast_tickets.py answers with too.
FETCHED = "Ticket has been fetched."
LISTED = "Tickets have been fetched."
CREATED = "Ticket has been created."
UPDATED = "Ticket has been updated."

blp = Blueprint("tickets", __name__, url_prefix="/tickets", description="Support tickets")
blp.register_blueprint(comments.blp)


@blp.route("")
class Tickets(MethodView):
    @requires(Permission.READ)
    @blp.arguments(TicketQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(TicketSchema, "Ticket"))
    @documents_errors(blp, 503)
    def get(self, args):
        """List tickets

        Filter, search, sort and paginate (page numbers or cursors).
        """
        with db.reader() as reader:
            body = tickets_page(reader, args)
        return json_response(body)

    @requires(Permission.WRITE_TICKETS)
    @idempotent
    @blp.arguments(TicketCreateSchema)
    @blp.response(201, envelope(TicketSchema))
    @documents_errors(blp, 400, 413, 503)
    def post(self, data):
        """Create a ticket"""
        ticket = service.create_ticket(db.session, data, current_actor())
        db.session.commit()
        location = url_for("tickets.TicketById", ticket_id=ticket.id, _external=True)
        return json_response(ok(CREATED, ticket_data(ticket)), 201,
                             {"Location": location, **etag_header(ticket)})


@blp.route("/<ticket_id>")
class TicketById(MethodView):
    @requires(Permission.READ)
    @blp.response(200, envelope(TicketSchema))
    @documents_errors(blp, 404, 503)
    @documents_conditional_read(blp)
    def get(self, ticket_id):
        """Get a ticket"""
        with db.reader() as reader:
            ticket = service.read_ticket(reader, ticket_id)
        return not_modified(ticket) or json_response(
            ok(FETCHED, ticket_data(ticket)), 200, etag_header(ticket))

    @requires(Permission.WRITE_TICKETS)
    @blp.arguments(TicketUpdateSchema)
    @blp.response(200, envelope(TicketSchema))
    @documents_errors(blp, 400, 404, 413, 503)
    @documents_conditional_write(blp)
    def patch(self, values, ticket_id):
        """Update a ticket

        Send any of title, description, status, priority, assigned_to; null unassigns.
        """
        ticket = update_ticket(db.session, ticket_id, values, current_actor(),
                               request.headers.get("If-Match"),
                               current_app.config["REQUIRE_IF_MATCH"])
        return json_response(ok(UPDATED, ticket_data(ticket)), 200, etag_header(ticket))

    @requires(Permission.DELETE_TICKETS)
    @blp.response(200, MessageEnvelopeSchema)
    @documents_errors(blp, 404, 503)
    @documents_conditional_write(blp, returns_etag=False)
    def delete(self, ticket_id):
        """Delete a ticket"""
        ticket = service.lock_ticket(db.session, ticket_id)
        check_if_match(ticket, "Ticket")
        service.delete_ticket(db.session, ticket, current_actor())
        db.session.commit()
        return ok("Ticket has been deleted.")


def tickets_page(reader: Session | Connection, args: dict) -> dict:
    """A list's envelope, by either path: the page of tickets `args` (validated by
    TicketQuerySchema) asks for, and its pagination."""
    records, pagination = service.list_tickets(reader, args)
    return page(LISTED, [ticket_data(record) for record in records], pagination)


def update_ticket(session: Session, ticket_id, values: dict, actor: Actor, if_match: str | None,
                  require_if_match: bool) -> TicketRow:
    """What a PATCH does, by either path: lock the ticket, check If-Match on it, apply the
    values that differ and commit; the ticket as stored."""
    ticket = service.lock_ticket(session, ticket_id)
    require_match(ticket, "Ticket", if_match, require_if_match)
    ticket, _changes = service.update_ticket(session, ticket, values, actor)
    session.commit()
    return ticket
