"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`; also what plain `flask` finds.

Nothing here starts threads: gunicorn.conf.py starts the realtime relay in each worker, so
`flask db upgrade` and other commands run without one.
"""

import sys

from werkzeug.middleware.proxy_fix import ProxyFix

from ticketing import create_app
from ticketing.config import Config


def trust_proxies(app):
    """Read X-Forwarded-* from PROXY_HOPS proxies (deploy/: nginx, 1); from nobody by default,
    or any client could choose the host and scheme of the URLs the app writes."""
    hops = app.config["PROXY_HOPS"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)
    return app


def make_app():
    """The app from the environment; a settings mistake is one line on stderr, not a traceback."""
    try:
        config = Config()
        if not config.DATABASE_URL:
            raise ValueError("DATABASE_URL is not set: export it (postgresql://USER:PASSWORD@"
                             "HOST:5432/DB), or use `make run` / `make migrate`, which start an "
                             "embedded PostgreSQL")
    except ValueError as error:
        print(f"ticketing: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return trust_proxies(create_app(config))


app = make_app()
