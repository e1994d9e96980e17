"""ticketing: a support-ticket REST API on PostgreSQL with realtime events."""

from .app import create_app

__all__ = ["create_app"]
