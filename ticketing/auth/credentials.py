"""Turn a bearer credential (an API key or a Supabase access token) into an Actor."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..errors import Forbidden
from ..models import Agent, ApiKey
from ..services.common import parse_id
from .actor import Actor
from .cache import TTLCache
from .errors import ExpiredCredential, InvalidCredential
from .keys import hash_secret, looks_like_api_key

log = logging.getLogger(__name__)

LAST_USED_INTERVAL = timedelta(minutes=1)
# SKIP LOCKED: a key being revoked right now is not worth waiting for.
TOUCH_KEY = text("""
    UPDATE api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM api_keys WHERE id = :id
                AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
                FOR UPDATE SKIP LOCKED)
""")


def key_actor(key: ApiKey) -> Actor:
    return Actor(type="api_key", role=key.role, id=key.id, name=key.name)


def agent_actor(agent: Agent) -> Actor:
    return Actor(type="agent", role=agent.role, id=agent.id, name=agent.name)


def has_expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= datetime.now(UTC)


class Credentials:
    """Resolves credentials, caching each answer for at most `cache_seconds` per process.

    The cache is why a revoked key or a changed role takes up to that long to take effect in
    other processes; this process forgets a key as soon as it revokes it.
    """

    def __init__(self, engine: Engine, cache_seconds: float, supabase=None) -> None:
        self.engine = engine
        self.supabase = supabase
        self.cache = TTLCache(cache_seconds)

    def resolve(self, session: Callable[[], Session], credential: str) -> Actor:
        """The credential's actor; `session()` gives the session to look it up with, asked
        for only when the answer is not cached (most requests then open none)."""
        cached = self.cache.get(credential)
        if cached is not None:
            actor, expires_at = cached
            if has_expired(expires_at):
                raise ExpiredCredential()
            return actor
        if looks_like_api_key(credential):
            actor, expires_at = self._api_key(session(), credential)
        elif self.supabase is not None:
            actor, expires_at = self._supabase_user(session(), credential)
        else:
            raise InvalidCredential()
        self.cache.put(credential, (actor, expires_at))
        return actor

    def cached_actor(self, credential: str) -> Actor | None:
        """The credential's actor if this process knows it and it has not expired; None when
        only `resolve` can tell (a lookup, or the error to answer). Touches nothing."""
        cached = self.cache.get(credential)
        if cached is None or has_expired(cached[1]):
            return None
        return cached[0]

    def forget(self) -> None:
        """Drop every cached answer (after a revocation or a role change in this process)."""
        self.cache.clear()

    def _api_key(self, session: Session, secret: str) -> tuple[Actor, datetime | None]:
        key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
        if key is None or key.revoked_at is not None:
            raise InvalidCredential()
        if has_expired(key.expires_at):
            raise ExpiredCredential()
        if key.last_used_at is None or key.last_used_at < datetime.now(UTC) - LAST_USED_INTERVAL:
            self._touch(key)
        return key_actor(key), key.expires_at

    def _touch(self, key: ApiKey) -> None:
        """Record the key's use, outside the request's transaction (GETs never commit)."""
        try:
            with self.engine.begin() as connection:
                connection.execute(TOUCH_KEY, {"id": key.id})
        except Exception as error:  # bookkeeping must never fail a request
            log.warning("could not record API key use: %s", str(error).splitlines()[0])

    def _supabase_user(self, session: Session, token: str) -> tuple[Actor, datetime | None]:
        claims = self.supabase.verify(token)
        user_id = parse_id(claims.get("sub"))
        if user_id is None:
            raise InvalidCredential()
        agent = session.scalar(select(Agent).where(Agent.user_id == user_id))
        if agent is None:
            raise Forbidden("Signed in, but this user is not an agent of this helpdesk")
        return agent_actor(agent), datetime.fromtimestamp(claims["exp"], UTC)
