"""Idempotency-Key for POSTs that create something: a retried request gets the first answer.

Usage, on a view method (below `@requires`, above `@blp.arguments`)::

    @idempotent
"""

from .decorator import IDEMPOTENCY_HEADER, idempotent

__all__ = ["IDEMPOTENCY_HEADER", "idempotent"]
