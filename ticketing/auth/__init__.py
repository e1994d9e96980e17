"""Access control: credentials, roles and the actor a request runs as."""

from typing import TYPE_CHECKING

from flask import Flask, g, request

from .actor import SYSTEM, Actor
from .errors import InvalidCredential
from .guard import authenticate_request, caller_is_trusted, check, current_actor, requires
from .roles import Permission, Role

if TYPE_CHECKING:
    from .credentials import Credentials

__all__ = ["SYSTEM", "Actor", "Permission", "Role", "caller_is_trusted", "check",
           "current_actor", "init_auth", "requires"]


def make_supabase_tokens(config):
    """The Supabase token verifier, when a project is configured (None otherwise)."""
    if not config.get("SUPABASE_URL"):
        return None  # and PyJWT with cryptography (10 MB) stay out of the process
    from .supabase import SupabaseTokens

    return SupabaseTokens.from_config(config)


def init_auth(app: Flask) -> "Credentials":
    """Resolve every API request's credential before anything else looks at it."""
    # Here, not at the top: credentials needs the models, and the models need auth.roles,
    # whose package this is (importing `ticketing.models` first must work: migrations do).
    from .credentials import Credentials

    credentials = Credentials(app.extensions["db"].engine, app.config["AUTH_CACHE_SECONDS"],
                              make_supabase_tokens(app.config))
    app.extensions["auth"] = credentials
    prefix = "/" + app.config["API_PREFIX"] + "/" if app.config["API_PREFIX"] else "/"

    @app.before_request
    def _authenticate_api_requests() -> None:
        if request.path.startswith(prefix):
            authenticate_request()
        elif request.path == "/readyz" and "Authorization" in request.headers:
            # Resolved here so that the rate limiter counts it; a failing database (what
            # /readyz is there to report) leaves the caller simply unrecognised.
            try:
                authenticate_request()
            except Exception:
                g.actor, g.auth_error = None, InvalidCredential()

    if app.config["AUTH_ANONYMOUS_ROLE"]:
        app.logger.warning("AUTH_ANONYMOUS_ROLE=%s: requests without a credential are let in; "
                           "use this on a private network only", app.config["AUTH_ANONYMOUS_ROLE"])
    return credentials
