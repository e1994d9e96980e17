"""Agent input, output and query schemas."""

from marshmallow import Schema, fields, validate

from .common import (
    NOT_BLANK,
    Email,
    NonEmptyUpdateMixin,
    PageQuerySchema,
    StrictSchema,
    TrimmedString,
    sort_field,
)


def _name_field(**kwargs) -> TrimmedString:
    return TrimmedString(validate=[NOT_BLANK, validate.Length(max=200)],
                         metadata={"example": "Ada Lovelace"}, **kwargs)


def _email_field(**kwargs) -> Email:
    return Email(validate=validate.Length(max=320),
                        metadata={"example": "ada@example.com"}, **kwargs)


class AgentSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    email = fields.String()
    version = fields.Integer(metadata={"description": "Grows by one with every change"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class AgentCreateSchema(StrictSchema):
    name = _name_field(required=True)
    email = _email_field(required=True)


class AgentUpdateSchema(NonEmptyUpdateMixin, StrictSchema):
    name = _name_field()
    email = _email_field()


class AgentQuerySchema(PageQuerySchema):
    q = TrimmedString(validate=[NOT_BLANK, validate.Length(max=200)],
                      metadata={"description": "Search in name and email (substring, any case)"})
    sort = sort_field(("created_at", "updated_at", "name", "email"))
