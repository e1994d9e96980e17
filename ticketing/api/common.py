"""What the resource views share: the blueprint class, the envelope, documented errors."""

import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import flask_smorest
import orjson
from apispec import BasePlugin
from flask import Response
from marshmallow import Schema
from sqlalchemy.exc import DBAPIError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import UnsupportedMediaType

from ..db import db
from ..errors import is_retryable, sqlstate

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"


class Parser(FlaskParser):
    def _get_schema(self, argmap, req):
        # webargs builds a new Schema from a class on every request (a third of a millisecond
        # for TicketQuerySchema); loading keeps no state on the schema, so one instance serves.
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            return shared_schema(argmap)
        return super()._get_schema(argmap, req)

    def load_json(self, req, schema):
        # webargs ignores a body that is not labelled JSON, which then reads as "missing field".
        if req.content_length != 0 and req.get_data(cache=True) and not req.is_json:
            raise unsupported_media_type(req.mimetype)
        return super().load_json(req, schema)

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError as error:  # absurdly deep nesting is malformed input too
            raise json.JSONDecodeError("Nested too deeply", "[", 0) from error


@functools.cache
def shared_schema(schema_class: type[Schema]) -> Schema:
    """The one instance of `schema_class` that parses every request's arguments."""
    return schema_class()


def unsupported_media_type(mimetype: str) -> UnsupportedMediaType:
    error = UnsupportedMediaType()
    sent = f"'{mimetype}'" if mimetype else "no Content-Type"
    error.data = {"message": f"Send the body as {JSON_TYPE}, not {sent}",
                  "errors": {"Content-Type": [f"Must be {JSON_TYPE}."]}}
    return error


def null_means_null(self, field, ret, **kwargs) -> dict:
    """A nullable nested object is that object or null, not "any object or null".

    apispec writes OpenAPI 3.0's nullable reference as `anyOf: [ref, {type: object,
    nullable: true}]`, whose second branch accepts `{}` too; `enum: [null]` admits only null.
    Registered on the Api's marshmallow converter (init_api).
    """
    branches = ret.get("anyOf")
    if not branches or {"type": "object", "nullable": True} not in branches:
        return {}
    return {"anyOf": [{"nullable": True, "enum": [None]} if branch == {
        "type": "object", "nullable": True} else branch for branch in branches]}


class SchemaExtrasPlugin(BasePlugin):
    """Add a schema's OPENAPI_EXTRAS (what fields cannot say, e.g. minProperties) to OpenAPI."""

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        return dict(getattr(schema_class, "OPENAPI_EXTRAS", {}))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()


def ok(message: str, data: Any = None) -> dict:
    body = {"status": True, "message": message}
    if data is not None:
        body["data"] = data
    return body


def page(message: str, records: list, pagination: dict) -> dict:
    return ok(message, {"records": records, "pagination": pagination})


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    """Send `body`, already JSON-ready (e.g. from ticketing.serialize), as it is.

    For views whose data a hand-written serializer rendered: flask-smorest passes a Response
    through untouched, so the response schema only documents the shape. orjson writes the
    same JSON as Flask's encoder, keys in the same order, several times faster.
    """
    return Response(json_bytes(body), status=status, headers=headers, mimetype=JSON_TYPE)


def json_bytes(body: dict) -> bytes:
    return orjson.dumps(body) + b"\n"


def documents_errors(blp, *statuses: int):
    """Add the envelope-shaped error responses a view can return to its OpenAPI entry."""

    def decorate(view):
        for status in statuses:
            # flask-smorest registers one response per HTTPStatus name, all with our ERROR_SCHEMA.
            view = blp.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorate


def retry_transient_failure(view, rollback: Callable[[], None] | None = None):
    """Run the view once more after a deadlock or serialization failure.

    PostgreSQL aborted the whole transaction before it took effect, and side effects (events
    to publish) only happen after a commit, so the second run starts from a clean slate once
    `rollback` (by default: the request session's) has run.
    """

    @functools.wraps(view)
    def run(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DBAPIError as error:
            if not is_retryable(error):
                raise
            log.warning("retrying the request once after SQLSTATE %s", sqlstate(error))
            (rollback or db.session.rollback)()
        return view(*args, **kwargs)

    return run
