"""The responses kept for replays of an Idempotency-Key."""

from datetime import datetime

from sqlalchemy import DateTime, Index, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # Who sent the key (Actor.scope, or the client address when anonymous): two callers may
    # pick the same key without seeing each other's responses.
    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    # A digest of the client's key; `body` is sealed with the key itself (idempotency/sealing.py).
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    # NULL while the first request runs; then its answer.
    status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    headers: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                 server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        # The cleanup deletes the oldest expired rows in batches.
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )
