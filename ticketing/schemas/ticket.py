"""Ticket input, output and query schemas."""

import re
import uuid

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from ..models import TicketPriority, TicketStatus
from .common import (
    NOT_BLANK,
    UUID_PATTERN,
    ActorSchema,
    Email,
    NonEmptyUpdateMixin,
    PageQuerySchema,
    RepeatableList,
    StrictSchema,
    Text,
    TrimmedString,
    UtcDateTime,
    sort_field,
)
from .tag import TagSet, tag_filter

TICKET_SORTS = ("created_at", "updated_at", "last_activity_at", "priority", "status", "title")


class RequesterSchema(StrictSchema):
    """Who asked; the email is stored as given and matched without regard to case."""

    name = TrimmedString(allow_none=True, validate=[NOT_BLANK, validate.Length(max=200)],
                         metadata={"example": "Ada Lovelace"})
    email = Email(required=True, validate=validate.Length(max=320),
                  metadata={"example": "ada@example.com"})

    @post_load
    def complete(self, data, **kwargs):
        """Always both keys, so that an unchanged requester is not reported as a change."""
        return {"name": data.get("name"), "email": data["email"]}


class TicketSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = fields.String()
    description = fields.String()
    status = fields.Enum(TicketStatus, by_value=True)
    priority = fields.Enum(TicketPriority, by_value=True)
    assigned_to = fields.UUID(allow_none=True)
    created_by = fields.Nested(ActorSchema, allow_none=True,
                               metadata={"description": "Who created it; null before 0003"})
    requester = fields.Nested(RequesterSchema, allow_none=True)
    tags = fields.List(fields.String(), metadata={"description": "Sorted"})
    comments_count = fields.Integer(metadata={"description": "Comments not deleted"})
    version = fields.Integer(metadata={
        "description": "Grows by one with every change, comments and tags included"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime(metadata={"description": "Last change of its own fields"})
    last_activity_at = fields.AwareDateTime(
        metadata={"description": "Last change of the ticket, its tags or its comments"})
    first_response_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the first public reply was posted"})


def _title_field(**kwargs) -> TrimmedString:
    return TrimmedString(validate=[NOT_BLANK, validate.Length(max=200)],
                         metadata={"example": "Issue with login",
                                   "description": "Surrounding white space is removed"},
                         **kwargs)


def _description_field(**kwargs) -> Text:
    # Kept as written (leading spaces may indent a code sample), but never blank.
    return Text(validate=[NOT_BLANK, validate.Length(max=20_000)],
                metadata={"example": "User unable to log in to the platform"}, **kwargs)


def _assigned_to_field() -> fields.UUID:
    return fields.UUID(allow_none=True,
                       metadata={"description": "Id of an existing agent; null unassigns"})


def _requester_field() -> fields.Nested:
    return fields.Nested(RequesterSchema, allow_none=True,
                         metadata={"description": "Who asked; null removes it"})


class TicketCreateSchema(StrictSchema):
    title = _title_field(required=True)
    description = _description_field(required=True)
    status = fields.Enum(TicketStatus, by_value=True, load_default=TicketStatus.OPEN)
    priority = fields.Enum(TicketPriority, by_value=True, load_default=TicketPriority.LOW)
    assigned_to = _assigned_to_field()
    requester = _requester_field()
    tags = TagSet()


class TicketUpdateSchema(NonEmptyUpdateMixin, StrictSchema):
    title = _title_field()
    description = _description_field()
    status = fields.Enum(TicketStatus, by_value=True)
    priority = fields.Enum(TicketPriority, by_value=True)
    assigned_to = _assigned_to_field()
    requester = _requester_field()
    tags = TagSet(metadata={"description": "Replaces the whole set; see /tickets/{id}/tags "
                                           "to add or remove one without replacing the rest"})


class AssigneeField(fields.String):
    """An agent id, or `none` for unassigned tickets (returned as None)."""

    PATTERN = f"^(?:[nN][oO][nN][eE]|{UUID_PATTERN})$"

    def __init__(self, **kwargs) -> None:
        super().__init__(metadata={"pattern": self.PATTERN,
                                   "description": "An agent id, or `none` for unassigned"},
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(self.PATTERN, value):
            raise ValidationError("Not an agent id or `none`.")
        return None if value.lower() == "none" else uuid.UUID(value)


def _enum_list(enum_cls) -> RepeatableList:
    choices = ", ".join(member.value for member in enum_cls)
    return RepeatableList(fields.Enum(enum_cls, by_value=True), validate=validate.Length(min=1),
                          metadata={"description": f"One or more of {choices}: repeat the "
                                                   "parameter, or separate values with commas"})


class TicketQuerySchema(PageQuerySchema):
    status = _enum_list(TicketStatus)
    priority = _enum_list(TicketPriority)
    assigned_to = AssigneeField()
    q = TrimmedString(validate=[NOT_BLANK, validate.Length(max=200)],
                      metadata={"description": "Full-text search in title, description and "
                                               "comments"})
    created_after = UtcDateTime(metadata={"description": "ISO 8601; UTC when no offset; inclusive"})
    created_before = UtcDateTime(metadata={
        "description": "ISO 8601; UTC when no offset; exclusive; later than created_after"})
    requester_email = Email(validate=validate.Length(max=320),
                            metadata={"description": "The requester's email, any case"})
    tags = tag_filter("Tickets carrying all of these tags")
    tags_any = tag_filter("Tickets carrying any of these tags")
    has_public_reply = fields.Boolean(
        metadata={"description": "`false`: tickets whose requester still awaits a first reply"})
    sort = sort_field(TICKET_SORTS)

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        after, before = data.get("created_after"), data.get("created_before")
        if after and before and after >= before:
            raise ValidationError("Must be later than created_after.", "created_before")
