"""API keys: credentials for integrations and scripts, stored only as a hash."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..auth.roles import Role
from ..db import Base
from .enums import pg_enum


class ApiKey(Base):
    __tablename__ = "api_keys"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[Role] = mapped_column(pg_enum(Role, "access_role"), nullable=False)
    # SHA-256 of the whole secret: the secret is random enough that a slow hash adds nothing.
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    # The first characters of the secret, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
