"""Comment input, output and query schemas."""

from marshmallow import Schema, fields, validate

from .common import NOT_BLANK, ActorSchema, PageQuerySchema, StrictSchema, Text

MAX_BODY = 50_000


def _body_field() -> Text:
    # NOT_BLANK: the same rule as ticket descriptions, stated in OpenAPI as its pattern.
    return Text(required=True, validate=[NOT_BLANK, validate.Length(max=MAX_BODY)],
                metadata={"description": f"1-{MAX_BODY:,} characters, stored as given",
                          "example": "Could you send us a screenshot of the error?"})


class CommentSchema(Schema):
    id = fields.UUID(dump_only=True)
    ticket_id = fields.UUID()
    author = fields.Nested(ActorSchema, metadata={"description": "Who posted it"})
    body = fields.String(allow_none=True, metadata={"description": "Null once deleted"})
    public = fields.Boolean(
        metadata={"description": "true: a reply the requester may see; false: an internal note"})
    deleted = fields.Boolean()
    version = fields.Integer(metadata={"description": "Grows by one with every edit"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    edited_at = fields.AwareDateTime(allow_none=True)
    edited_by = fields.Nested(ActorSchema, allow_none=True)
    deleted_at = fields.AwareDateTime(allow_none=True)
    deleted_by = fields.Nested(ActorSchema, allow_none=True)


class CommentCreateSchema(StrictSchema):
    body = _body_field()
    public = fields.Boolean(
        load_default=False,
        metadata={"description": "true for a reply the requester may see; false (the default) "
                                 "for an internal note, so nothing reaches a customer by accident"})


class CommentUpdateSchema(StrictSchema):
    body = _body_field()


class CommentQuerySchema(PageQuerySchema):
    public = fields.Boolean(
        metadata={"description": "true: public replies only; false: internal notes only"})
