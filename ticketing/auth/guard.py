"""Who may call what: the request's actor, resolved once, and the `requires` decorator."""

import ipaddress
from functools import wraps

from flask import current_app, g, request

from ..db import db
from ..errors import DomainError, Forbidden
from .actor import Actor
from .errors import InvalidCredential, MissingCredential
from .roles import ROLE_PERMISSIONS, Permission, Role

SECURITY_SCHEME = "bearerAuth"


def bearer_credential() -> str | None:
    """The credential of the request's `Authorization: Bearer <credential>`; None when absent."""
    return parse_bearer(request.headers.get("Authorization"))


def parse_bearer(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` header; None for no header."""
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise InvalidCredential()
    return credential.strip()


def resolve_actor() -> Actor:
    credential = bearer_credential()
    if credential is None:
        anonymous_role = current_app.config["AUTH_ANONYMOUS_ROLE"]
        if anonymous_role is None:
            raise MissingCredential()
        return anonymous_actor(anonymous_role, request.remote_addr)
    return current_app.extensions["auth"].resolve(lambda: db.session, credential)


def anonymous_actor(role: str, remote_addr: str | None) -> Actor:
    """A caller without a credential, let in by AUTH_ANONYMOUS_ROLE."""
    return Actor(type="anonymous", role=Role(role), name=remote_addr)


def authenticate_request() -> None:
    """Resolve the credential before the rate limiter and the view look at `g.actor`.

    A refusal is kept, not raised: the rate limiter still counts the attempt against the
    client's address, and the view's `requires` answers it.
    """
    g.actor, g.auth_error = None, None
    try:
        g.actor = resolve_actor()
    except DomainError as error:
        g.auth_error = error


def current_actor() -> Actor:
    """The request's actor; raises the 401/403/503 its credential earned."""
    if "auth_error" not in g:
        authenticate_request()
    if g.auth_error is not None:
        raise g.auth_error
    return g.actor


def caller_is_trusted() -> bool:
    """A loopback caller or one with a valid credential (for /readyz details)."""
    if request.remote_addr and ipaddress.ip_address(request.remote_addr).is_loopback:
        return True
    try:
        return bearer_credential() is not None and current_actor() is not None
    except DomainError:
        return False


def check(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise Forbidden(f"Not permitted for the {actor.role} role")


def requires(permission: Permission):
    """Let the view run only for a caller whose role has `permission` (topmost decorator)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            check(current_actor(), permission)
            return view(*args, **kwargs)

        document_security(guarded, permission)
        return guarded

    return decorate


def document_security(view, permission: Permission) -> None:
    """Declare the bearer scheme and the 401/403 answers in the view's OpenAPI entry."""
    apidoc = view._apidoc = dict(getattr(view, "_apidoc", {}))
    manual = apidoc["manual_doc"] = dict(apidoc.get("manual_doc", {}))
    manual["security"] = [{SECURITY_SCHEME: []}]
    roles = ", ".join(role.value for role in Role if permission in ROLE_PERMISSIONS[role])
    view.__doc__ = f"{(view.__doc__ or '').rstrip()}\n\nRoles allowed: {roles}."
    response = apidoc["response"] = dict(apidoc.get("response", {}))
    responses = response["responses"] = dict(response.get("responses", {}))
    for status, name in ((401, "UNAUTHORIZED"), (403, "FORBIDDEN")):
        responses.setdefault(status, []).append(name)
