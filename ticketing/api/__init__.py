"""The HTTP API: flask-smorest with our envelope for successes and errors."""

import flask_smorest
from flask import Flask

from ..auth.guard import SECURITY_SCHEME
from ..errors import http_error_body, http_error_headers
from ..schemas.common import ErrorSchema
from .common import SchemaExtrasPlugin, null_means_null, retry_transient_failure


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return http_error_body(error), error.code, http_error_headers(error)


def init_api(app: Flask) -> Api:
    """Make the app's Api (one per app: an Api holds that app's OpenAPI spec)."""
    from . import agents, api_keys, docs, events, tags, tickets

    api = Api(app, spec_kwargs={"info": {"description": docs.DESCRIPTION},
                                "extra_plugins": [SchemaExtrasPlugin()]})
    api.ma_plugin.converter.add_attribute_function(null_means_null)
    prefix = "/" + app.config["API_PREFIX"] if app.config["API_PREFIX"] else ""
    modules = (tickets, agents, events, api_keys, tags)
    for module in modules:
        api.register_blueprint(module.blp, url_prefix=prefix + module.blp.url_prefix)
    retry_api_views(app, {module.blp.name for module in modules})
    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "A Supabase Auth access token or an API key (tkt_...)"})
    docs.register(app)
    return api


def retry_api_views(app: Flask, blueprints: set[str]) -> None:
    """Every API view retries once after a deadlock or serialization failure."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.partition(".")[0] in blueprints:
            app.view_functions[endpoint] = retry_transient_failure(view)
