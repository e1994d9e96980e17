"""Roles and what each may do: the table in README.md, in one place."""

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    READ = "read"  # tickets, agents, events, history, comments, tags
    REALTIME_TOKEN = "realtime:token"
    WRITE_TICKETS = "tickets:write"  # create and update tickets, their tags and requester
    DELETE_TICKETS = "tickets:delete"
    WRITE_COMMENTS = "comments:write"  # post comments, edit one's own
    MODERATE_COMMENTS = "comments:moderate"  # edit anyone's comment, delete comments
    EDIT_OWN_AGENT = "agents:edit-own"  # an agent's own name
    MANAGE_AGENTS = "agents:manage"  # create, update, delete agents; roles and user ids
    MANAGE_API_KEYS = "api-keys:manage"


_VIEWER = frozenset({Permission.READ, Permission.REALTIME_TOKEN})
_AGENT = _VIEWER | {Permission.WRITE_TICKETS, Permission.WRITE_COMMENTS,
                    Permission.EDIT_OWN_AGENT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.AGENT: frozenset(_AGENT),
    Role.ADMIN: frozenset(Permission),
}


def role_can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
