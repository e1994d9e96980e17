"""Claim, complete, release and purge idempotency keys (SQL only, no HTTP)."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..models import IdempotencyKey

# A claim whose request has not finished after this long was abandoned (a killed worker):
# longer than gunicorn's request timeout, so a live request is never taken over.
ABANDONED_AFTER = timedelta(minutes=5)
PURGE_BATCH = 1000


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: ours to run, or someone's (finished or running)."""

    ours: bool
    existing: IdempotencyKey | None = None


def claim(session: Session, scope: str, key: str, fingerprint: str, ttl: timedelta) -> Claim:
    """Take the key for this request, unless a live one holds it; commits the claim.

    One statement: insert, or take over a row that expired or whose request was abandoned.
    Committed at once, so a concurrent request with the same key sees it running.
    """
    values = {"scope": scope, "key": key, "fingerprint": fingerprint, "status": None,
              "body": None, "headers": None, "created_at": func.now(),
              "expires_at": func.now() + literal(ttl)}
    table = IdempotencyKey.__table__
    stale = or_(table.c.expires_at < func.now(),
                (table.c.status.is_(None)) & (table.c.created_at < func.now() - ABANDONED_AFTER))
    stmt = insert(IdempotencyKey).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["scope", "key"],
                                      set_={k: v for k, v in values.items()
                                            if k not in ("scope", "key")},
                                      where=stale).returning(table.c.key)
    taken = session.execute(stmt).first() is not None
    existing = None if taken else session.get(IdempotencyKey, (scope, key))
    session.commit()
    if not taken and existing is None:  # released between the two statements: try again
        return claim(session, scope, key, fingerprint, ttl)
    return Claim(ours=taken, existing=existing)


def complete(session: Session, scope: str, key: str, status: int, body: str,
             headers: dict) -> None:
    session.execute(update(IdempotencyKey)
                    .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                    .values(status=status, body=body, headers=headers))
    session.commit()


def release(session: Session, scope: str, key: str) -> None:
    """Forget a claim whose request failed, so that the client's retry runs it again."""
    session.rollback()
    session.execute(delete(IdempotencyKey)
                    .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key,
                           IdempotencyKey.status.is_(None)))
    session.commit()


def purge_expired(session: Session, batch_size: int = PURGE_BATCH,
                  max_batches: int | None = None) -> int:
    """Delete expired keys, oldest first, `batch_size` rows per transaction.

    Short transactions keep locks brief; SKIP LOCKED lets two purges run side by side.
    """
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        oldest = (select(IdempotencyKey.scope, IdempotencyKey.key)
                  .where(IdempotencyKey.expires_at < func.now())
                  .order_by(IdempotencyKey.expires_at).limit(batch_size)
                  .with_for_update(skip_locked=True))
        row_key = tuple_(IdempotencyKey.scope, IdempotencyKey.key)
        deleted = session.execute(delete(IdempotencyKey).where(row_key.in_(oldest))).rowcount
        session.commit()
        total, batches = total + deleted, batches + 1
        if deleted < batch_size:
            break
    return total
