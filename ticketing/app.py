"""Application factory: config -> db -> realtime -> observability -> auth -> api -> cli."""

from flask import Flask
from flask_cors import CORS

from .api import init_api
from .api.docs import SETTINGS as DOCS_SETTINGS
from .auth import init_auth
from .auth.limits import init_rate_limits
from .cli import register_cli
from .config import Config
from .db import db
from .errors import register_error_handlers
from .observability import init_observability
from .realtime import realtime


def enable_cors(app: Flask) -> None:
    """Let the configured browser origins call the API (and read its useful headers)."""
    if app.config["CORS_ORIGINS"]:
        CORS(app, origins=app.config["CORS_ORIGINS"], max_age=600,
             expose_headers=["Location", "X-Request-ID", "Retry-After", "RateLimit-Limit",
                             "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"],
             resources={r"/*": {}})


def create_app(config: Config | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(config or Config())
    app.config.from_mapping(DOCS_SETTINGS)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    # Merging slashes answers with an HTML redirect; a plain 404 in the envelope is clearer.
    app.url_map.merge_slashes = False

    enable_cors(app)
    db.init_app(app)
    realtime.init_app(app)
    init_observability(app)
    init_auth(app)
    init_rate_limits(app)  # after authentication: the limits are keyed on the credential
    register_error_handlers(app)
    init_api(app)
    register_cli(app)
    return app
