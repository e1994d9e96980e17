"""Ticket input, output and query schemas."""

import re
import uuid

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..models import TicketPriority, TicketStatus
from .common import (
    NOT_BLANK,
    UUID_PATTERN,
    ActorSchema,
    NonEmptyUpdateMixin,
    PageQuerySchema,
    RepeatableList,
    StrictSchema,
    Text,
    TrimmedString,
    UtcDateTime,
    sort_field,
)

TICKET_SORTS = ("created_at", "updated_at", "priority", "status", "title")


class TicketSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = fields.String()
    description = fields.String()
    status = fields.Enum(TicketStatus, by_value=True)
    priority = fields.Enum(TicketPriority, by_value=True)
    assigned_to = fields.UUID(allow_none=True)
    created_by = fields.Nested(ActorSchema, allow_none=True,
                               metadata={"description": "Who created it; null before 0003"})
    version = fields.Integer(metadata={"description": "Grows by one with every change"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


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


class TicketCreateSchema(StrictSchema):
    title = _title_field(required=True)
    description = _description_field(required=True)
    status = fields.Enum(TicketStatus, by_value=True, load_default=TicketStatus.OPEN)
    priority = fields.Enum(TicketPriority, by_value=True, load_default=TicketPriority.LOW)
    assigned_to = _assigned_to_field()


class TicketUpdateSchema(NonEmptyUpdateMixin, StrictSchema):
    title = _title_field()
    description = _description_field()
    status = fields.Enum(TicketStatus, by_value=True)
    priority = fields.Enum(TicketPriority, by_value=True)
    assigned_to = _assigned_to_field()


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
                      metadata={"description": "Full-text search in title and description"})
    created_after = UtcDateTime(metadata={"description": "ISO 8601; UTC when no offset; inclusive"})
    created_before = UtcDateTime(metadata={
        "description": "ISO 8601; UTC when no offset; exclusive; later than created_after"})
    sort = sort_field(TICKET_SORTS)

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        after, before = data.get("created_after"), data.get("created_before")
        if after and before and after >= before:
            raise ValidationError("Must be later than created_after.", "created_before")
