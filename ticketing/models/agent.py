"""Agents: the people tickets are assigned to."""

import uuid

from sqlalchemy import CheckConstraint, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..auth.roles import Role
from ..db import Base
from .enums import pg_enum
from .mixins import ResourceMixin


class Agent(ResourceMixin, Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[Role] = mapped_column(pg_enum(Role, "access_role"), nullable=False,
                                       server_default=Role.AGENT.value)
    # The Supabase Auth user (a JWT's `sub`) who signs in as this agent.
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)

    __table_args__ = (
        CheckConstraint("char_length(btrim(name)) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("position('@' in email) > 1", name="email_format"),
        Index("ix_agents_created_at_id", "created_at", "id"),
        Index("ix_agents_name_trgm", "name", postgresql_using="gin",
              postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_agents_email_trgm", "email", postgresql_using="gin",
              postgresql_ops={"email": "gin_trgm_ops"}),
    )


# Emails are unique without regard to case but stored as given.
Index("uq_agents_email_lower", func.lower(Agent.email), unique=True)
