"""A small per-process cache of resolved credentials, so most requests query nothing."""

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any


def credential_digest(credential: str) -> bytes:
    """What the cache is keyed on: 32 bytes however long the token, and not the secret itself."""
    return hashlib.sha256(credential.encode()).digest()


class TTLCache:
    """Entries with a lifetime, oldest first; safe to share between threads.

    Keyed on a digest of the credential, not the credential: a Supabase token is one or two
    kilobytes (up to 16), so the key would be most of an entry, and a heap dump would show
    secrets. Bounded twice, so that a worker's memory stays flat however many callers it sees:
    entries older than `ttl_seconds` are dropped as new ones come in (the cache holds what the
    last `ttl_seconds` brought, not every credential since the worker started), and never more
    than `max_entries` are kept (about half a kilobyte each).
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        # In the order they were stored, so the oldest (the first to expire) come first.
        self._entries: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, credential: str) -> Any | None:
        key = credential_digest(credential)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if time.monotonic() - stored_at >= self.ttl:
                del self._entries[key]
                return None
            return value

    def put(self, credential: str, value: Any) -> None:
        if self.ttl <= 0:
            return
        key, now = credential_digest(credential), time.monotonic()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            self._drop_expired(now)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _drop_expired(self, now: float) -> None:
        """Drop expired entries from the front; amortised, each entry is dropped once."""
        while self._entries:
            stored_at, _ = next(iter(self._entries.values()))
            if now - stored_at < self.ttl:
                return
            self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
