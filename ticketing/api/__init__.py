"""The HTTP API: flask-smorest with our envelope for successes and errors."""

import flask_smorest
from flask import Flask

from ..auth.guard import SECURITY_SCHEME
from ..errors import http_error_body
from ..schemas.common import ErrorSchema


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        data = getattr(error, "data", None) or {}
        return http_error_body(error), error.code, data.get("headers", {})


def init_api(app: Flask) -> Api:
    """Make the app's Api (one per app: an Api holds that app's OpenAPI spec)."""
    from . import agents, api_keys, docs, events, tags, tickets

    api = Api(app, spec_kwargs={"info": {"description": docs.DESCRIPTION}})
    prefix = "/" + app.config["API_PREFIX"] if app.config["API_PREFIX"] else ""
    for module in (tickets, agents, events, api_keys, tags):
        api.register_blueprint(module.blp, url_prefix=prefix + module.blp.url_prefix)
    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "A Supabase Auth access token or an API key (tkt_...)"})
    docs.register(app)
    return api
