"""Request ids, structured logs, Prometheus metrics and health checks."""

from flask import Flask

from . import health, logs, metrics


def init_observability(app: Flask) -> None:
    logs.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(health.blp)
