"""ticketing: a support-ticket REST API on PostgreSQL with realtime events."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Imported on first use: gunicorn's master imports ticketing.logformat (for its log
    # lines) and must not import the app with it (see that module).
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'ticketing' has no attribute {name!r}")
