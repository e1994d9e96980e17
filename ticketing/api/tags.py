"""/tags and /tickets/<ticket_id>/tags: tags in use, and tagging without replacing the rest."""

from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..schemas.common import envelope
from ..schemas.tag import TagListSchema, TagQuerySchema, TagsInputSchema
from ..schemas.ticket import TicketSchema
from ..serialize import ticket_data
from ..services import tags as service
from .common import Blueprint, documents_errors, json_response, ok

blp = Blueprint("tags", __name__, url_prefix="", description="Ticket tags")


@blp.route("/tags")
class Tags(MethodView):
    @requires(Permission.READ)
    @blp.arguments(TagQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(TagListSchema))
    @documents_errors(blp, 503)
    def get(self, args):
        """List tags in use

        With the number of tickets carrying each, most used first; `q` keeps those starting
        with it.
        """
        records = service.tags_in_use(db.session, args.get("q"), args["limit"])
        return ok("Tags have been fetched.", {"records": records})


@blp.route("/tickets/<ticket_id>/tags")
class TicketTags(MethodView):
    @requires(Permission.WRITE_TICKETS)
    @blp.arguments(TagsInputSchema)
    @blp.response(200, envelope(TicketSchema))
    @documents_errors(blp, 400, 404, 413, 503)
    def post(self, data, ticket_id):
        """Add tags to a ticket

        Keeps the tags it already has; adding one it has changes nothing.
        """
        ticket = service.add_tags(db.session, ticket_id, data["tags"], current_actor())
        db.session.commit()
        return json_response(ok("Tags have been added.", ticket_data(ticket)))


@blp.route("/tickets/<ticket_id>/tags/<tag>")
class TicketTag(MethodView):
    @requires(Permission.WRITE_TICKETS)
    @blp.response(200, envelope(TicketSchema))
    @documents_errors(blp, 404, 503)
    def delete(self, ticket_id, tag):
        """Remove a tag from a ticket

        Keeps its other tags. 404 when the ticket does not carry the tag.
        """
        ticket = service.remove_tag(db.session, ticket_id, tag, current_actor())
        db.session.commit()
        return json_response(ok("Tag has been removed.", ticket_data(ticket)))
