"""Building blocks shared by the resource schemas: trimmed strings, envelopes, pagination."""

from functools import cache

from marshmallow import Schema, ValidationError, fields, validate, validates_schema


def check_storable(value: str) -> str:
    """Refuse what PostgreSQL cannot store in text: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationError("Must be valid Unicode text.") from error
    return value


class Text(fields.String):
    """A string PostgreSQL can store."""

    def _deserialize(self, value, attr, data, **kwargs):
        return check_storable(super()._deserialize(value, attr, data, **kwargs))


class TrimmedString(Text):
    """A storable string with surrounding white space removed before validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Email(fields.Email):
    def _deserialize(self, value, attr, data, **kwargs):
        return check_storable(super()._deserialize(value, attr, data, **kwargs))


class StrictSchema(Schema):
    """Reject unknown fields (marshmallow's default, stated so nobody relaxes it by accident)."""

    class Meta:
        unknown = "raise"


class NonEmptyUpdateMixin:
    @validates_schema
    def require_one_field(self, data, **kwargs):
        if not data:
            raise ValidationError("Provide at least one field to update.", "_schema")


class PaginationSchema(Schema):
    page = fields.Integer(metadata={"description": "Page number (offset pagination only)"})
    per_page = fields.Integer(required=True)
    total = fields.Integer(metadata={"description": "Matching records (offset pagination only)"})
    total_pages = fields.Integer(metadata={"description": "Offset pagination only"})
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "Pass as `cursor` to get the next page; null on the last page"},
    )


class PageQuerySchema(StrictSchema):
    page = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "`pagination.next_cursor` of the previous page"},
    )

    @validates_schema
    def page_or_cursor(self, data, **kwargs):
        if "page" in data and "cursor" in data:
            raise ValidationError("Use either page or cursor, not both.", "cursor")


def sort_field(choices: tuple[str, ...], default: str = "-created_at") -> fields.String:
    return fields.String(
        load_default=default,
        validate=validate.OneOf([*choices, *(f"-{name}" for name in choices)]),
        metadata={"description": f"One of {', '.join(choices)}; a leading `-` for descending. "
                                 f"Ties are broken by id. Default `{default}`"},
    )


class ActorSchema(Schema):
    """Who made a change (events, `created_by`)."""

    type = fields.String(metadata={"description": "agent, api_key, anonymous or system"})
    id = fields.String(metadata={"description": "The agent's or the API key's id"})
    name = fields.String(metadata={"description": "An API key's name"})


class ErrorSchema(Schema):
    status = fields.Boolean(required=True, metadata={"example": False})
    message = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Messages per field; empty when the failure is not about fields"},
    )


@cache
def envelope(data_schema: type[Schema], many_name: str | None = None) -> type:
    """Wrap `data_schema` in the success envelope; `many_name` makes data a records page."""
    if many_name:
        data = fields.Nested(Schema.from_dict({
            "records": fields.List(fields.Nested(data_schema), required=True),
            "pagination": fields.Nested(PaginationSchema, required=True),
        }, name=f"{many_name}Page"), required=True)
        name = f"{many_name}PageEnvelope"
    else:
        data = fields.Nested(data_schema, required=True)
        name = f"{data_schema.__name__.removesuffix('Schema')}Envelope"
    return Schema.from_dict({
        "status": fields.Boolean(required=True, metadata={"example": True}),
        "message": fields.String(required=True),
        "data": data,
    }, name=name)


class MessageEnvelopeSchema(Schema):
    status = fields.Boolean(required=True, metadata={"example": True})
    message = fields.String(required=True)
