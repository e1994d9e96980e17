"""Fixed-window hit counters for the rate limits: in this process, in Redis, or Redis with a
fall-back to this process while Redis is unreachable.

A window starts at a key's first hit and lasts the limit's period; `hit` counts one more request
and says how many the window holds and when it ends. One call is one Redis round trip (a Lua
script increments, starts the window and reads its remaining time), so counting costs a request
one round trip instead of the three a generic limiter library takes.
"""

import logging
import threading
import time
from typing import Protocol

from limits.storage import storage_from_string
from prometheus_client import Counter, Gauge

log = logging.getLogger("ticketing.auth.limits")

FALLBACK = Gauge("rate_limit_storage_fallback",
                 "1 while a worker counts rate limits in memory because Redis is unreachable",
                 multiprocess_mode="livemax")
STORAGE_FAILURES = Counter("rate_limit_storage_failures_total",
                           "Times a worker lost Redis and began counting rate limits in memory")

# Redis keys keep the names the `limits` package gives them ("LIMITS:" + key), so that counters
# survive an upgrade and operators find them where they were.
REDIS_KEY_PREFIX = "LIMITS:"
HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
RETRY_DELAYS = (1, 2, 4, 8, 16, 32)  # seconds before Redis is tried again after a failure


class Counters(Protocol):
    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Count a hit on `key`; return the window's count and its end (epoch seconds)."""


class MemoryCounters:
    """This worker's own windows; expired ones are dropped once there are many.

    A sweep runs when the windows outnumber PRUNE_ABOVE and twice what the last sweep kept,
    so that many live keys (a crowd of addresses) do not make every request sweep them all.
    """

    PRUNE_ABOVE = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._kept = 0  # windows left by the last sweep
        self._lock = threading.Lock()

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        now = time.time()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + seconds
            self._windows[key] = (count + 1, ends)
            if len(self._windows) > max(self.PRUNE_ABOVE, 2 * self._kept):
                self._prune(now)
        return count + 1, ends

    def _prune(self, now: float) -> None:
        self._windows = {key: window for key, window in self._windows.items()
                         if window[1] > now}
        self._kept = len(self._windows)


class RedisCounters:
    """Windows shared by every worker and machine through Redis (any URL `limits` accepts)."""

    def __init__(self, url: str, timeout: float) -> None:
        storage = storage_from_string(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self._script = storage.storage.register_script(HIT_SCRIPT)

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        count, ttl_ms = self._script(keys=[REDIS_KEY_PREFIX + key], args=[seconds * 1000])
        return int(count), time.time() + int(ttl_ms) / 1000


class FailoverCounters:
    """Redis, or this worker's memory from a Redis failure until Redis answers again.

    Redis is tried again after 1, 2, 4 ... 32 seconds: requests keep being served and limited
    meanwhile, per worker. Refusing every request because the limiter's storage is down would
    turn a Redis outage into an API outage.
    """

    def __init__(self, shared: Counters, fallback: Counters | None = None) -> None:
        self.shared = shared
        self.fallback = fallback or MemoryCounters()
        self._failures = 0
        self._retry_at = 0.0
        FALLBACK.set(0)

    @property
    def degraded(self) -> bool:
        return self._failures > 0

    def hit(self, key: str, seconds: int) -> tuple[int, float]:
        if self.degraded and time.monotonic() < self._retry_at:
            return self.fallback.hit(key, seconds)
        try:
            result = self.shared.hit(key, seconds)
        except Exception:  # redis.RedisError, OSError, a timeout: any of them means "down"
            self._failed()
            return self.fallback.hit(key, seconds)
        if self.degraded:
            self._recovered()
        return result

    def _failed(self) -> None:
        if not self.degraded:
            STORAGE_FAILURES.inc()
            FALLBACK.set(1)
            log.warning("rate limits: Redis unreachable, counting in this worker's memory "
                        "until it answers again", exc_info=True)
        delay = RETRY_DELAYS[min(self._failures, len(RETRY_DELAYS) - 1)]
        self._failures += 1
        self._retry_at = time.monotonic() + delay

    def _recovered(self) -> None:
        self._failures = 0
        FALLBACK.set(0)
        log.warning("rate limits: Redis answers again, counters are shared once more")


def make_counters(config) -> Counters:
    if not config["REDIS_URL"]:
        return MemoryCounters()
    return FailoverCounters(RedisCounters(config["REDIS_URL"], config["REDIS_TIMEOUT"]))
