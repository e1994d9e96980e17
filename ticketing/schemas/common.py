"""Building blocks shared by the resource schemas: trimmed strings, envelopes, pagination."""

from datetime import UTC
from functools import cache

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

# Page numbers stop here (Zendesk's limit too): OFFSET makes PostgreSQL walk every skipped row,
# so deeper pages are read with cursors, which cost the same at any depth.
MAX_PAGE = 100
# What check_storable accepts, and that plus one character other than white space, as the
# `pattern` OpenAPI states (JSON cannot carry the lone surrogates check_storable also refuses).
STORABLE_PATTERN = r"^[^\u0000]*$"
# White space as JSON Schema's (ECMA-262) `\s` means it, spelled out: Python's `\s` and
# str.strip() also take \x1c-\x1f and \x85, which a generated client would call text.
WHITE_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
WHITE_SPACE_CHARS = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000\ufeff")
NOT_BLANK = validate.Regexp(rf"^[^\u0000]*[^\u0000{WHITE_SPACE}][^\u0000]*$",
                            error="Must not be blank.")
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def check_storable(value: str) -> str:
    """Refuse what PostgreSQL cannot store in text: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationError("Must be valid Unicode text.") from error
    return value


def _documents_pattern(field: fields.Field) -> None:
    if not any(isinstance(rule, validate.Regexp) for rule in field.validators):
        field.metadata = {"pattern": STORABLE_PATTERN, **field.metadata}


class Text(fields.String):
    """A string PostgreSQL can store."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        _documents_pattern(self)

    def _deserialize(self, value, attr, data, **kwargs):
        return check_storable(super()._deserialize(value, attr, data, **kwargs))


class TrimmedString(Text):
    """A storable string with surrounding white space removed before validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip(WHITE_SPACE_CHARS)


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time, UTC when it has no offset, returned in UTC.

    In UTC because PostgreSQL refuses offsets beyond ±15:59 that RFC 3339 and Python accept;
    a time that leaves the representable range once converted is invalid.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as error:
            raise ValidationError("Out of the supported range of dates.") from error


class RepeatableList(fields.List):
    """A query parameter given repeated (`?a=x&a=y`), comma-separated (`?a=x,y`), or both."""

    is_multiple = True  # webargs reads every occurrence, not only the first

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, str) for item in items):
            raise self.make_error("invalid")
        parts = [part for item in items for part in item.split(",")]
        return super()._deserialize(parts, attr, data, **kwargs)


class Email(fields.Email):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        _documents_pattern(self)

    def _deserialize(self, value, attr, data, **kwargs):
        return check_storable(super()._deserialize(value, attr, data, **kwargs))


class StrictSchema(Schema):
    """Reject unknown fields (marshmallow's default, stated so nobody relaxes it by accident)."""

    class Meta:
        unknown = "raise"


class NonEmptyUpdateMixin:
    OPENAPI_EXTRAS = {"minProperties": 1}  # see api.common.SchemaExtrasPlugin

    @validates_schema
    def require_one_field(self, data, **kwargs):
        if not data:
            raise ValidationError("Provide at least one field to update.", "_schema")


class PaginationSchema(Schema):
    page = fields.Integer(metadata={"description": "Page number (offset pagination only)"})
    per_page = fields.Integer(required=True)
    total = fields.Integer(metadata={
        "description": "Matching records, counted up to 1,000 (offset pagination only)"})
    total_exact = fields.Boolean(metadata={
        "description": "False when more than `total` records match and counting stopped there "
                       "(offset pagination only)"})
    total_pages = fields.Integer(metadata={"description": "Offset pagination only"})
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "Pass as `cursor` to get the next page; null on the last page"},
    )


class PageQuerySchema(StrictSchema):
    page = fields.Integer(
        validate=validate.Range(min=1, max=MAX_PAGE, error=(
            f"Page numbers go from 1 to {MAX_PAGE}; to read further, pass "
            "pagination.next_cursor as cursor (cursors reach any depth).")),
        metadata={"description": f"Page number, 1 to {MAX_PAGE}; use `cursor` beyond that"})
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Text(
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
