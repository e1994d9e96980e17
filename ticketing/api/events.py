"""/events and /tickets/<id>/events: the durable event feed; /realtime/token for subscribers."""

from flask import current_app
from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..realtime.feed import read_feed, ticket_history
from ..schemas.common import envelope
from ..schemas.event import (
    EventSchema,
    FeedQuerySchema,
    FeedSchema,
    HistoryQuerySchema,
    TokenRequestSchema,
)
from .common import Blueprint, documents_errors, page

blp = Blueprint("events", __name__, url_prefix="", description="Realtime events")


@blp.route("/events")
class Feed(MethodView):
    @requires(Permission.READ)
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
        return page("Events have been fetched.", records, pagination)


@blp.route("/tickets/<ticket_id>/events")
class TicketHistory(MethodView):
    @requires(Permission.READ)
    @blp.arguments(HistoryQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(EventSchema, "Event"))
    @documents_errors(blp, 404, 503)
    def get(self, args, ticket_id):
        """Get a ticket's history

        Its events, oldest first; still available after the ticket is deleted. Pass
        `pagination.next_cursor` as `after` for the next page.
        """
        events = ticket_history(db.session, ticket_id, args["after"], args["limit"])
        more = len(events) == args["limit"]
        pagination = {"per_page": args["limit"],
                      "next_cursor": str(events[-1]["version"]) if more else None}
        return page("Ticket events have been fetched.", events, pagination)


@blp.route("/realtime/token")
class RealtimeToken(MethodView):
    @requires(Permission.REALTIME_TOKEN)
    @blp.response(200, TokenRequestSchema)
    @documents_errors(blp, 503)
    def post(self):
        """Get an Ably token request for subscribers

        Signed locally with the API key; allows only `subscribe` and `history` on the event
        channels. The body is Ably's TokenRequest itself (not enveloped) so that ably-js can use
        this URL as its `authUrl`.
        """
        return subscriber_token_request()

    @requires(Permission.REALTIME_TOKEN)
    @blp.response(200, TokenRequestSchema)
    @documents_errors(blp, 503)
    def get(self):
        """Get an Ably token request (for ably-js' default `authMethod: GET`)"""
        return subscriber_token_request()


def subscriber_token_request() -> dict:
    state = current_app.extensions["realtime"]
    return state.subscriber_token_request(current_app.config["ABLY_TOKEN_TTL"],
                                          client_id=current_actor().scope)
