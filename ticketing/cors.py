"""Cross-origin requests from the configured browser origins (CORS_ORIGINS), via flask-cors."""

from flask import Flask
from flask_cors import CORS
from flask_cors.core import get_cors_headers, get_cors_options
from werkzeug.datastructures import EnvironHeaders

# Let browsers read the API's useful headers, not only the CORS-safelisted ones.
EXPOSED_HEADERS = ["Location", "X-Request-ID", "Retry-After", "RateLimit-Limit",
                   "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"]


def cors_settings(app: Flask) -> dict:
    return {"origins": app.config["CORS_ORIGINS"], "max_age": 600,
            "expose_headers": EXPOSED_HEADERS, "resources": {r"/*": {}}}


def enable_cors(app: Flask) -> None:
    """Let the configured browser origins call the API (and read its useful headers)."""
    if app.config["CORS_ORIGINS"]:
        CORS(app, **cors_settings(app))


def cors_options(app: Flask):
    """flask-cors's resolved options for the app's one resource (every path); None: no CORS."""
    if not app.config["CORS_ORIGINS"]:
        return None
    return get_cors_options(app, cors_settings(app), {})


def cors_headers(options, environ: dict, method: str) -> list[tuple[str, str]]:
    """The headers flask-cors adds to the answer of this request: for a request answered
    below Flask (api/fast_path.py), the same computation its after_request hook makes."""
    found = get_cors_headers(options, EnvironHeaders(environ), method)
    return [(name, str(value)) for name, value in found.items()]
