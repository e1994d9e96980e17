"""API key input, output and query schemas."""

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from ..auth.roles import Role
from .common import (
    NOT_BLANK,
    ActorSchema,
    PageQuerySchema,
    StrictSchema,
    TrimmedString,
    UtcDateTime,
    sort_field,
)


class ApiKeySchema(Schema):
    id = fields.UUID()
    name = fields.String()
    role = fields.Enum(Role, by_value=True)
    prefix = fields.String(metadata={"description": "The secret's first characters"})
    created_by = fields.Nested(ActorSchema, allow_none=True)
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "Updated at most once a minute"})


class ApiKeyCreatedSchema(ApiKeySchema):
    secret = fields.String(metadata={
        "description": "The key itself, shown this once: send it as `Authorization: Bearer`"})


class ApiKeyCreateSchema(StrictSchema):
    # One expiry or none (see one_expiry); stated in OpenAPI by api.common.SchemaExtrasPlugin.
    OPENAPI_EXTRAS = {"not": {"required": ["expires_in_days", "expires_at"]}}

    name = TrimmedString(required=True, validate=[NOT_BLANK, validate.Length(max=100)],
                         metadata={"example": "zapier-sync"})
    role = fields.Enum(Role, by_value=True, required=True)
    expires_in_days = fields.Integer(validate=validate.Range(min=1, max=3650))
    expires_at = UtcDateTime(metadata={"description": "ISO 8601, UTC when no offset; in the "
                                                      "future; not with expires_in_days"})

    @validates("expires_at")
    def in_future(self, value, **kwargs):
        if value <= datetime.now(UTC):
            raise ValidationError("Must be in the future.")

    @validates_schema
    def one_expiry(self, data, **kwargs):
        if "expires_in_days" in data and "expires_at" in data:
            raise ValidationError("Use either expires_in_days or expires_at.", "expires_at")


class ApiKeyQuerySchema(PageQuerySchema):
    include_revoked = fields.Boolean(load_default=False)
    sort = sort_field(("created_at", "name"))
