"""Supabase's public signing keys (a JWKS), fetched over HTTP, cached and refetched sparingly.

PyJWT's `PyJWKClient` is not used for the fetching because of two behaviours that matter during
an outage: it drops its cache as soon as the cached set expires and a refetch fails (every token
would then be refused although the key that signed it is known), and its cool-down only starts
after a *successful* fetch (while Supabase is down, every request would hit it again and wait for
the timeout). Here every attempt, failed or not, starts the cool-down, and the last good keys stay
in use until a fetch succeeds. PyJWT still parses the keys (`PyJWK`) and checks the signatures.
"""

import logging
import threading
import time

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWTError
from prometheus_client import Counter

from .errors import InvalidCredential, KeySetUnavailable

log = logging.getLogger(__name__)

# The asymmetric algorithms Supabase signs access tokens with; other keys in the set are ignored.
ASYMMETRIC_ALGORITHMS = ("ES256", "RS256")

FETCHES = Counter("supabase_jwks_fetches_total", "Fetches of Supabase's signing keys",
                  ["outcome"])


class KeySetFetchError(Exception):
    """The key set could not be fetched or was not a key set."""


def parse_key_set(document: object) -> dict[str, PyJWK]:
    """The usable signing keys of a JWKS document, by `kid`; an empty set is valid."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetFetchError("the answer is not a JWKS document")
    keys = {}
    for entry in document["keys"]:
        key = _signing_key(entry)
        if key is not None:
            keys[key.key_id] = key
    return keys


def _signing_key(entry: object) -> PyJWK | None:
    """One entry as a key we may verify with, or None for entries we must not use."""
    if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
        return None
    if entry.get("use") not in (None, "sig"):  # "enc" keys are not for signatures
        return None
    try:
        key = PyJWK(entry)
    except (PyJWTError, TypeError, ValueError, KeyError):
        log.warning("supabase jwks: ignoring an unusable key %r", entry.get("kid"))
        return None
    return key if key.algorithm_name in ASYMMETRIC_ALGORITHMS else None


class KeySet:
    """The keys published at one URL, shared by all threads of a worker."""

    def __init__(self, url: str, *, timeout: float, refetch_interval: float,
                 cache_seconds: float) -> None:
        self.url = url
        self.timeout = timeout
        self.refetch_interval = refetch_interval
        self.cache_seconds = cache_seconds
        self._keys: dict[str, PyJWK] = {}  # replaced whole, so readers need no lock
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_attempt_failed = False
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK:
        """The key named `kid`.

        Raises InvalidCredential when a fresh key set has no such key, and KeySetUnavailable
        when the set cannot be fetched and no cached key matches.
        """
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        self._refresh()
        key = self._keys.get(kid)
        if key is not None:
            return key  # possibly from a stale set while Supabase cannot be reached
        if self._last_attempt_failed:
            raise KeySetUnavailable()
        raise InvalidCredential()

    def _stale(self) -> bool:
        return (self._fetched_at is None
                or time.monotonic() - self._fetched_at > self.cache_seconds)

    def _refresh(self) -> None:
        """Fetch the set again unless any thread tried within the last refetch interval."""
        with self._lock:
            last = self._attempted_at
            if last is not None and time.monotonic() - last < self.refetch_interval:
                return  # also covers threads that waited here while another one fetched
            try:
                self._keys = self._fetch()
            except KeySetFetchError as error:
                self._last_attempt_failed = True
                FETCHES.labels("failed").inc()
                log.warning("supabase jwks: cannot fetch %s (%s); %d cached keys stay in use",
                            self.url, error, len(self._keys))
            else:
                self._fetched_at = time.monotonic()
                self._last_attempt_failed = False
                FETCHES.labels("ok").inc()
            finally:
                # Counted from the end of the attempt, so a slow answer cannot start the next one.
                self._attempted_at = time.monotonic()

    def _fetch(self) -> dict[str, PyJWK]:
        try:
            # No redirects: the keys come from the configured URL or not at all.
            response = httpx.get(self.url, timeout=self.timeout, follow_redirects=False,
                                 headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise KeySetFetchError(f"HTTP {response.status_code}")
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise KeySetFetchError(f"{type(error).__name__}: {error}") from error
        return parse_key_set(document)
