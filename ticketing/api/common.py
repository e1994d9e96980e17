"""What the resource views share: the blueprint class, the envelope, documented errors."""

import json
from http import HTTPStatus
from typing import Any

import flask_smorest
from webargs.flaskparser import FlaskParser


class Parser(FlaskParser):
    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError as error:  # absurdly deep nesting is malformed input too
            raise json.JSONDecodeError("Nested too deeply", "[", 0) from error


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()


def ok(message: str, data: Any = None) -> dict:
    body = {"status": True, "message": message}
    if data is not None:
        body["data"] = data
    return body


def page(message: str, records: list, pagination: dict) -> dict:
    return ok(message, {"records": records, "pagination": pagination})


def documents_errors(blp, *statuses: int):
    """Add the envelope-shaped error responses a view can return to its OpenAPI entry."""

    def decorate(view):
        for status in statuses:
            # flask-smorest registers one response per HTTPStatus name, all with our ERROR_SCHEMA.
            view = blp.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorate
