"""Agent input, output and query schemas."""

from marshmallow import Schema, fields, validate

from ..auth.roles import Role
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


def _role_field(**kwargs) -> fields.Enum:
    return fields.Enum(Role, by_value=True,
                       metadata={"description": "admin, agent or viewer (admins only)"}, **kwargs)


def _user_id_field() -> fields.UUID:
    return fields.UUID(allow_none=True, metadata={
        "description": "The Supabase Auth user id (a token's `sub`) who signs in as this agent; "
                       "admins only"})


class AgentSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    email = fields.String()
    role = fields.Enum(Role, by_value=True)
    user_id = fields.UUID(allow_none=True)
    version = fields.Integer(metadata={"description": "Grows by one with every change"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class AgentCreateSchema(StrictSchema):
    name = _name_field(required=True)
    email = _email_field(required=True)
    role = _role_field(load_default=Role.AGENT)
    user_id = _user_id_field()


class AgentUpdateSchema(NonEmptyUpdateMixin, StrictSchema):
    name = _name_field()
    email = _email_field()
    role = _role_field()
    user_id = _user_id_field()


class AgentQuerySchema(PageQuerySchema):
    q = TrimmedString(validate=[NOT_BLANK, validate.Length(max=200)],
                      metadata={"description": "Search in name and email (substring, any case)"})
    sort = sort_field(("created_at", "updated_at", "name", "email"))
