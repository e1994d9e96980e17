"""API key operations: issue (the secret is returned once), list, revoke."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth import Actor
from ..auth.keys import hash_secret, new_secret, shown_prefix
from ..models import ApiKey
from ..pagination import make_sort, paginate
from .common import flush, get_or_404

NOT_FOUND = "API key not found"


def get_key(session: Session, key_id, *, lock: bool = False) -> ApiKey:
    return get_or_404(session, ApiKey, key_id, NOT_FOUND, lock=lock)


def list_keys(session: Session, args: dict) -> tuple[list[ApiKey], dict]:
    stmt = select(ApiKey)
    if not args.get("include_revoked"):
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return paginate(session, stmt, make_sort(ApiKey, args["sort"]), args)


def expiry(data: dict) -> datetime | None:
    if data.get("expires_in_days"):
        return datetime.now(UTC) + timedelta(days=data["expires_in_days"])
    return data.get("expires_at")


def create_key(session: Session, data: dict, actor: Actor) -> tuple[ApiKey, str]:
    """Issue a key; the secret is known only to the caller from here on."""
    secret = new_secret()
    key = ApiKey(name=data["name"], role=data["role"], secret_hash=hash_secret(secret),
                 prefix=shown_prefix(secret), created_by=actor.as_event(), expires_at=expiry(data))
    session.add(key)
    flush(session)
    return key, secret


def revoke_key(session: Session, key_id) -> ApiKey:
    """Revoke now; revoking a revoked key changes nothing."""
    key = get_key(session, key_id, lock=True)
    if key.revoked_at is None:
        key.revoked_at = func.clock_timestamp()
        flush(session)
        session.refresh(key, ["revoked_at"])
    return key


def any_key_exists(session: Session) -> bool:
    return session.scalar(select(select(ApiKey.id).exists())) or False
