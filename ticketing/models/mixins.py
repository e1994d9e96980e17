"""Columns every resource shares: a generated uuid, timestamps and a change counter."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column


class ResourceMixin:
    # Read server-made values (ids, timestamps) back with RETURNING instead of a later SELECT.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Grows by one with every change; realtime subscribers order events by it.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))

    def touch(self) -> None:
        """Mark a change: bump the version and the update time.

        clock_timestamp(), not now(): a transaction that waited for this row's lock must not
        stamp an update time earlier than the change committed before it.
        """
        self.version = self.version + 1
        self.updated_at = func.clock_timestamp()
