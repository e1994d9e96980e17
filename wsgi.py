"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`."""

from werkzeug.middleware.proxy_fix import ProxyFix

from ticketing import create_app

app = create_app()
# Trust X-Forwarded-* only from the configured number of proxies (nginx in front: 1).
_hops = app.config["PROXY_HOPS"]
if _hops > 0:
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=_hops, x_proto=_hops, x_host=_hops,
                            x_port=_hops, x_prefix=_hops)
# Serving processes publish realtime events (REALTIME_RELAY=thread); gunicorn imports this
# module in each worker after the fork, so the thread belongs to the worker.
app.extensions["realtime"].start()
