"""Event feed schemas."""

from marshmallow import Schema, fields, validate

from .common import ActorSchema, StrictSchema, Text


class EventSchema(Schema):
    """An event as published to Ably (the message data) and returned by the feed."""

    event_id = fields.UUID(metadata={"description": "Stable id; also the Ably message id"})
    event = fields.String(metadata={"example": "ticket_updated"})
    occurred_at = fields.String(metadata={"description": "ISO 8601 time the change was made"})
    version = fields.Integer(metadata={"description": "The resource's version after the change"})
    actor = fields.Nested(ActorSchema, allow_none=True,
                          metadata={"description": "Who made the change; null before 0003"})
    ticketId = fields.String(metadata={"description": "Ticket events only"})
    agentId = fields.String(metadata={"description": "Agent events only"})
    status = fields.String(metadata={"description": "Ticket events: the status after the change"})
    status_changed = fields.Boolean()
    previous_status = fields.String(allow_none=True)
    ticket = fields.Dict(metadata={"description": "The ticket after the change (before a delete)"})
    agent = fields.Dict(metadata={"description": "The agent after the change (before a delete)"})
    comment = fields.Dict(metadata={
        "description": "comment_created, comment_updated, comment_deleted: the comment after "
                       "the change (internal notes included; a deleted one as its marker)"})
    changes = fields.Dict(metadata={"description": '{field: {"from": old, "to": new}}'})
    truncated = fields.Boolean(metadata={"description": "Ably messages only: long texts dropped"})


class FeedQuerySchema(StrictSchema):
    after = Text(validate=validate.Length(max=200),
                          metadata={"description": "`pagination.next_cursor` of the last read"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class HistoryQuerySchema(StrictSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1),
                           metadata={"description": "A version: `pagination.next_cursor` of the "
                                                    "previous page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class FeedPaginationSchema(Schema):
    limit = fields.Integer()
    next_cursor = fields.String(metadata={"description": "Pass as `after` to read on"})
    has_more = fields.Boolean(metadata={"description": "More events wait after this page"})


class FeedSchema(Schema):
    records = fields.List(fields.Nested(EventSchema))
    pagination = fields.Nested(FeedPaginationSchema)


class TokenRequestSchema(Schema):
    """An Ably TokenRequest, signed with the API key; ably-js exchanges it for a token."""

    keyName = fields.String()
    ttl = fields.Integer()
    capability = fields.String()
    timestamp = fields.Integer()
    nonce = fields.String()
    mac = fields.String()
    clientId = fields.String(allow_none=True)
