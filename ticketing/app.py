"""Application factory: config -> db -> realtime -> observability -> auth -> api -> cli."""

import inspect

from flask import Flask, Request
from werkzeug.exceptions import BadRequest
from werkzeug.utils import cached_property

from .api import fast_path, fast_tickets, init_api
from .api.docs import SETTINGS as DOCS_SETTINGS
from .auth import init_auth
from .auth.limits import init_rate_limits
from .cli import register_cli
from .config import Config
from .cors import enable_cors
from .db import db
from .errors import register_error_handlers
from .observability import init_observability
from .realtime import realtime


class TicketingRequest(Request):
    """A query string that is not UTF-8 is the client's error (400), not a server one."""

    @cached_property
    def args(self):
        try:
            return super().args
        except UnicodeDecodeError as error:
            refusal = BadRequest()
            refusal.data = {"message": "The query string is not valid UTF-8",
                            "errors": {"query": ["Percent-encode the UTF-8 bytes of each "
                                                 "character."]}}
            raise refusal from error


class TicketingFlask(Flask):
    """Flask, minus a check every view and hook pays for on every request.

    `ensure_sync` asks `inspect.iscoroutinefunction` of each hook, view and flask-smorest
    wrapper before calling it (about 16 times a request, 5% of a GET by id). Nothing here is
    async, and `create_app` refuses an async view or hook, so each is called as it is.
    """

    request_class = TicketingRequest

    def ensure_sync(self, func):
        return func


def refuse_async_callables(app: Flask) -> None:
    """TicketingFlask calls views and hooks without Flask's async support: refuse any that
    would need it, at start-up rather than as a coroutine returned to a client."""
    hooks = [*app.view_functions.values(), *app.teardown_appcontext_funcs]
    for registry in (app.before_request_funcs, app.after_request_funcs,
                     app.teardown_request_funcs):
        hooks += [hook for chain in registry.values() for hook in chain]
    for hook in hooks:
        for layer in _layers(hook):
            if inspect.iscoroutinefunction(layer):
                raise RuntimeError(f"{layer.__qualname__} is async; ticketing serves sync only")


def _layers(view):
    """The view, the methods of a MethodView, and what each decorator wrapped."""
    view_class = getattr(view, "view_class", None)
    methods = (view_class.methods or ()) if view_class is not None else ()
    pending = [view, *(getattr(view_class, method.lower()) for method in methods)]
    while pending:
        layer = pending.pop()
        yield layer
        if hasattr(layer, "__wrapped__"):
            pending.append(layer.__wrapped__)


def create_app(config: Config | None = None) -> Flask:
    app = TicketingFlask(__name__)
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
    # After the API: the fast path takes its routes from the Flask app's URL map.
    fast_path.install(app, fast_tickets.routes(app))
    register_cli(app)
    refuse_async_callables(app)
    return app
