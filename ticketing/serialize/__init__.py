"""Hand-written serializers for the hottest shapes (see README "Hand-tuned paths").

Each produces exactly what its marshmallow schema would dump (the schema still documents the
shape in OpenAPI; tests compare the two) and is the one place that shape is produced: API
responses and event snapshots alike.
"""

from .ticket import ticket_data

__all__ = ["ticket_data"]
