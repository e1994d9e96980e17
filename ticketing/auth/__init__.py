"""Access control: credentials, roles and the actor a request runs as."""

from .actor import SYSTEM, Actor
from .roles import Permission, Role

__all__ = ["SYSTEM", "Actor", "Permission", "Role"]
