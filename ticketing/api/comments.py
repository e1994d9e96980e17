"""/tickets/<ticket_id>/comments: a ticket's public replies and internal notes."""

from flask import url_for
from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..idempotency import idempotent
from ..schemas.comment import (
    CommentCreateSchema,
    CommentQuerySchema,
    CommentSchema,
    CommentUpdateSchema,
)
from ..schemas.common import envelope
from ..services import comments as service
from .common import Blueprint, documents_errors, ok, page

# Registered under the tickets blueprint (see api/tickets.py): /tickets/<ticket_id>/comments.
blp = Blueprint("comments", __name__, url_prefix="/<ticket_id>/comments",
                description="A ticket's conversation: public replies and internal notes")


@blp.route("")
class Comments(MethodView):
    @requires(Permission.READ)
    @blp.arguments(CommentQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(CommentSchema, "Comment"))
    @documents_errors(blp, 404, 503)
    def get(self, args, ticket_id):
        """List a ticket's comments

        Oldest first, deleted ones as markers; page numbers or cursors.
        """
        records, pagination = service.list_comments(db.session, ticket_id, args)
        return page("Comments have been fetched.", records, pagination)

    @requires(Permission.WRITE_COMMENTS)
    @idempotent
    @blp.arguments(CommentCreateSchema)
    @blp.response(201, envelope(CommentSchema))
    @documents_errors(blp, 400, 404, 413, 503)
    def post(self, data, ticket_id):
        """Post a comment

        A public reply (`public: true`) or an internal note (the default). The author is the
        caller.
        """
        comment = service.create_comment(db.session, ticket_id, data, current_actor())
        db.session.commit()
        location = url_for("tickets.comments.CommentById", ticket_id=comment.ticket_id,
                           comment_id=comment.id, _external=True)
        return ok("Comment has been created.", comment), {"Location": location}


@blp.route("/<comment_id>")
class CommentById(MethodView):
    @requires(Permission.READ)
    @blp.response(200, envelope(CommentSchema))
    @documents_errors(blp, 404, 503)
    def get(self, ticket_id, comment_id):
        """Get a comment"""
        comment = service.get_comment(db.session, ticket_id, comment_id)
        return ok("Comment has been fetched.", comment)

    @requires(Permission.WRITE_COMMENTS)
    @blp.arguments(CommentUpdateSchema)
    @blp.response(200, envelope(CommentSchema))
    @documents_errors(blp, 400, 404, 409, 413, 503)
    def patch(self, data, ticket_id, comment_id):
        """Edit a comment's body

        Its author, or an admin. A deleted comment cannot be edited (409).
        """
        comment = service.update_comment(db.session, ticket_id, comment_id, data["body"],
                                         current_actor())
        db.session.commit()
        return ok("Comment has been updated.", comment)

    @requires(Permission.MODERATE_COMMENTS)
    @blp.response(200, envelope(CommentSchema))
    @documents_errors(blp, 404, 409, 503)
    def delete(self, ticket_id, comment_id):
        """Delete a comment

        Admins only. The text is gone; a marker (author, times, deleted) keeps the thread's
        shape. Deleting it again answers 409.
        """
        comment = service.delete_comment(db.session, ticket_id, comment_id, current_actor())
        db.session.commit()
        return ok("Comment has been deleted.", comment)
