"""Who is acting: passed explicitly to services, recorded on events and rows."""

import uuid
from dataclasses import dataclass

from .roles import Permission, Role, role_can


@dataclass(frozen=True)
class Actor:
    """The caller behind a request (or a command line)."""

    type: str  # "agent", "api_key", "anonymous" or "system"
    role: Role
    id: uuid.UUID | None = None
    name: str | None = None  # an API key's name; an anonymous caller's address

    def can(self, permission: Permission) -> bool:
        return role_can(self.role, permission)

    @property
    def agent_id(self) -> uuid.UUID | None:
        """The agent this actor is, if any (authors, `created_by`, own-profile edits)."""
        return self.id if self.type == "agent" else None

    @property
    def scope(self) -> str:
        """A stable key for per-caller state (rate limits, idempotency keys)."""
        return f"{self.type}:{self.id or self.name}"

    def as_event(self) -> dict:
        """The actor as events carry it."""
        if self.type == "api_key":
            return {"type": "api_key", "id": str(self.id), "name": self.name}
        if self.type == "agent":
            return {"type": "agent", "id": str(self.id)}
        return {"type": self.type}


SYSTEM = Actor(type="system", role=Role.ADMIN, name="system")
