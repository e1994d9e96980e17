"""/events and /tickets/<id>/events: the durable event feed; /realtime/token for subscribers."""

import json

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ..db import db
from ..errors import NotFound, Unavailable
from ..models import Ticket
from ..realtime.feed import read_feed, resource_history
from ..realtime.publisher import AblyPublisher
from ..schemas.common import envelope
from ..schemas.event import (
    EventSchema,
    FeedQuerySchema,
    FeedSchema,
    HistoryQuerySchema,
    TokenRequestSchema,
)
from ..services.common import parse_id
from .common import documents_errors, ok

blp = Blueprint("events", __name__, url_prefix="", description="Realtime events")


@blp.route("/events")
class Feed(MethodView):
    @blp.arguments(FeedQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(FeedSchema))
    @documents_errors(blp, 503)
    def get(self, args):
        """Read committed events

        Events in commit order, after the cursor `after`. Reading again and again with the
        returned `next_cursor` yields every committed event exactly once.
        """
        records, cursor = read_feed(db.session, args.get("after"), args["limit"])
        pagination = {"limit": args["limit"], "next_cursor": cursor}
        return ok("Events have been fetched.", {"records": records, "pagination": pagination})


@blp.route("/tickets/<ticket_id>/events")
class TicketHistory(MethodView):
    @blp.arguments(HistoryQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(EventSchema, "Event"))
    @documents_errors(blp, 404, 503)
    def get(self, args, ticket_id):
        """Get a ticket's history

        Its events, oldest first; still available after the ticket is deleted.
        """
        events = history_or_404(ticket_id, args)
        next_version = events[-1]["version"] if len(events) == args["limit"] else None
        pagination = {"per_page": args["limit"], "next_cursor": next_version and str(next_version)}
        return ok("Ticket events have been fetched.", {"records": events, "pagination": pagination})


def history_or_404(ticket_id: str, args: dict) -> list[dict]:
    resource_id = parse_id(ticket_id)
    if resource_id is None:
        raise NotFound("Ticket not found")
    events = resource_history(db.session, "ticket", resource_id, args["after_version"],
                              args["limit"])
    if not events and db.session.get(Ticket, resource_id) is None and not args["after_version"]:
        raise NotFound("Ticket not found")
    return events


@blp.route("/realtime/token")
class RealtimeToken(MethodView):
    @blp.response(200, TokenRequestSchema)
    @documents_errors(blp, 503)
    def post(self):
        """Get an Ably token request for subscribers

        Signed locally with the API key; allows only `subscribe` and `history` on the event
        channels. The body is Ably's TokenRequest itself (not enveloped) so that ably-js can use
        this URL as its `authUrl`.
        """
        return subscriber_token_request()

    @blp.response(200, TokenRequestSchema)
    @documents_errors(blp, 503)
    def get(self):
        """Get an Ably token request (for ably-js' default `authMethod: GET`)"""
        return subscriber_token_request()


def subscriber_token_request() -> dict:
    state = current_app.extensions["realtime"]
    if not isinstance(state.publisher, AblyPublisher):
        raise Unavailable("Realtime is not configured: set ABLY_API_KEY")
    capability = {channel: ["subscribe", "history"] for channel in state.channels.values()}
    request = state.publisher.token_request(capability, current_app.config["ABLY_TOKEN_TTL"])
    if isinstance(request.get("capability"), dict):
        request["capability"] = json.dumps(request["capability"])
    return request
