"""Tags: the field that normalises them, and the tag endpoints' schemas."""

import re

from marshmallow import Schema, ValidationError, fields, validate

from .common import NOT_BLANK, RepeatableList, StrictSchema, TrimmedString

MAX_TAGS = 20
TAG_PATTERN = re.compile(r"[\w.:-]{1,50}")
TAG_RULE = "1-50 letters, digits, '-', '_', ':' or '.'"
# What OpenAPI promises: ASCII (JSON Schema's \w), a subset of what TAG_PATTERN accepts.
TAG_DOC_PATTERN = r"^[A-Za-z0-9_.:-]{1,50}$"


def normalize_tag(value: str) -> str | None:
    """The tag as stored (trimmed, lower-cased), or None when it is not a valid tag."""
    tag = value.strip().lower()
    return tag if TAG_PATTERN.fullmatch(tag) else None


class Tag(TrimmedString):
    """One tag, trimmed and lower-cased."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("metadata", {})
        super().__init__(**kwargs)
        self.metadata = {**self.metadata, "pattern": TAG_DOC_PATTERN}

    def _deserialize(self, value, attr, data, **kwargs):
        tag = normalize_tag(super()._deserialize(value, attr, data, **kwargs))
        if tag is None:
            raise ValidationError(f"A tag is {TAG_RULE}.")
        return tag


class TagSet(fields.List):
    """A set of at most MAX_TAGS tags, returned sorted without duplicates."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("metadata", {"description": f"At most {MAX_TAGS} tags, each {TAG_RULE}; "
                                                      "trimmed, lower-cased, returned sorted",
                                       "example": ["billing", "vpn"]})
        super().__init__(Tag(), **kwargs)
        # What OpenAPI promises; the server counts distinct tags after lower-casing.
        self.metadata = {**self.metadata, "maxItems": MAX_TAGS}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and len(value) > 5 * MAX_TAGS:
            raise ValidationError(f"A ticket carries at most {MAX_TAGS} tags.")
        tags = sorted(set(super()._deserialize(value, attr, data, **kwargs)))
        if len(tags) > MAX_TAGS:
            raise ValidationError(f"A ticket carries at most {MAX_TAGS} tags.")
        return tags


def tag_filter(description: str) -> RepeatableList:
    return RepeatableList(Tag(), validate=validate.Length(min=1, max=MAX_TAGS),
                          metadata={"description": f"{description}: repeat the parameter, or "
                                                   "separate tags with commas"})


class TagsInputSchema(StrictSchema):
    tags = TagSet(required=True, validate=validate.Length(min=1))


class TagCountSchema(Schema):
    tag = fields.String(metadata={"example": "billing"})
    count = fields.Integer(metadata={"description": "Tickets carrying the tag"})


class TagListSchema(Schema):
    records = fields.List(fields.Nested(TagCountSchema), required=True)


class TagQuerySchema(StrictSchema):
    q = TrimmedString(validate=[NOT_BLANK, validate.Length(max=50)],
                      metadata={"description": "Only tags starting with this (case-insensitive)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "At most this many tags, most used first"})
