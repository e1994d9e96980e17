"""OpenAPI description and a Swagger UI whose assets the app serves itself (no CDN)."""

from flask import Flask, jsonify, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"
ASSET_MAX_AGE = 7 * 24 * 3600

DESCRIPTION = """\
Support tickets and the agents who work them.

Every response is an envelope: `{"status": true, "message": ..., "data": ...}` on success,
`{"status": false, "message": ..., "errors": {field: [messages]}}` on failure.
Lists return `data.records` and `data.pagination`; pass `pagination.next_cursor` back as
`cursor` to walk any number of pages at constant cost.
"""

SETTINGS = {
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
    "OPENAPI_SWAGGER_UI_CONFIG": {"deepLinking": True, "displayRequestDuration": True},
}


def _asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=ASSET_MAX_AGE)


def index():
    """`GET /`: where a newcomer finds the documentation."""
    return jsonify(status=True, message="Ticketing API: the reference is at /docs",
                   data={"docs": url_for("api-docs.openapi_swagger_ui"),
                         "openapi": url_for("api-docs.openapi_json"),
                         "health": "/healthz", "readiness": "/readyz"})


def register(app: Flask) -> None:
    app.add_url_rule(f"{ASSETS_URL}<path:filename>", "swagger_ui_asset", _asset)
    app.add_url_rule("/", "index", index)
