"""Rate limits: a budget per credential, and one per client address for requests without a valid
credential, so that guessing API keys or tokens gets nowhere.

Flask-Limiter counts one application-wide limit per caller (all API routes share the budget)
with fixed windows: RATE_LIMIT_DEFAULT for a valid credential, keyed on `g.actor.scope`, which
the authentication hook (registered before this one) sets; RATE_LIMIT_ANONYMOUS per client
address otherwise. Counters live in Redis when REDIS_URL is set, so every worker and machine
shares them, and in the process otherwise (`make run`).

When Redis stops answering, each worker counts in its own memory until Redis is back (checked
again after 1, 2, 4 ... 32 seconds): requests keep being served and limited, though a caller's
budget is then per worker instead of shared. Refusing every request because the limiter's
storage is down would turn a Redis outage into an API outage. The switch is logged as a warning
and shows in the metrics `rate_limit_storage_fallback` and `rate_limit_storage_failures_total`.
"""

import ipaddress
import logging
import math
import time

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from prometheus_client import Counter, Gauge

from ..errors import error_body

log = logging.getLogger(__name__)

LIMITED = Counter("rate_limited_requests_total", "API requests refused with 429", ["caller"])
FALLBACK = Gauge("rate_limit_storage_fallback",
                 "1 while a worker counts rate limits in memory because Redis is unreachable",
                 multiprocess_mode="livemax")
STORAGE_FAILURES = Counter("rate_limit_storage_failures_total",
                           "Times a worker lost Redis and began counting rate limits in memory")

# Routes outside the API prefix are never limited; with an empty API_PREFIX these stay free.
UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


class ReportingLimiter(Limiter):
    """Flask-Limiter, reporting when it loses and regains its storage.

    Flask-Limiter 4 records this in its private `_storage_dead` attribute (set when a storage
    call fails, cleared when a later health check passes); this property turns the changes into
    a log line and metrics. tests/test_rate_limits.py fails if a new version stops setting it.
    """

    @property
    def _storage_dead(self) -> bool:
        return getattr(self, "_storage_is_dead", False)

    @_storage_dead.setter
    def _storage_dead(self, dead: bool) -> None:
        if dead and not self._storage_dead:
            STORAGE_FAILURES.inc()
            log.warning("rate limits: Redis unreachable, counting in this worker's memory "
                        "until it answers again")
        elif self._storage_dead and not dead:
            log.warning("rate limits: Redis answers again, counters are shared once more")
        FALLBACK.set(1 if dead else 0)
        self._storage_is_dead = dead


def client_network(address: str | None) -> str:
    """The client's address; for IPv6 its /64, since one subscriber usually holds a whole /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def credential_actor():
    """The request's actor when it came with a valid credential (not the anonymous role)."""
    actor = g.get("actor")
    return actor if actor is not None and actor.type != "anonymous" else None


def rate_limit_key() -> str:
    actor = credential_actor()
    if actor is not None:
        return f"credential:{actor.scope}"
    # Let in by AUTH_ANONYMOUS_ROLE ("anonymous") or refused ("address"): per client address.
    kind = "anonymous" if g.get("actor") is not None else "address"
    return f"{kind}:{client_network(request.remote_addr)}"


def rate_limit_value() -> str:
    """The limit for this caller; callers let in by AUTH_ANONYMOUS_ROLE get the default one."""
    config = current_app.config
    return config["RATE_LIMIT_DEFAULT"] if g.get("actor") else config["RATE_LIMIT_ANONYMOUS"]


def is_api_path(path: str, prefix: str) -> bool:
    if prefix:
        return path == f"/{prefix}" or path.startswith(f"/{prefix}/")
    return not any(path == free or path.startswith(free + "/") for free in UNLIMITED_PATHS)


def is_exempt() -> bool:
    # CORS preflights carry no credential and are answered without touching the API.
    if request.method == "OPTIONS":
        return True
    if request.path == "/readyz":
        # Its details answer a valid credential: count such attempts, or it checks keys freely.
        return "Authorization" not in request.headers
    return not is_api_path(request.path, current_app.config["API_PREFIX"])


def too_many_requests(error: RateLimitExceeded):
    LIMITED.labels("credential" if credential_actor() else "address").inc()
    message = f"Too many requests: the limit is {error.limit.limit}, try again later"
    return error_body(429, message), 429


def add_rate_limit_headers(response):
    """RateLimit-* on every limited response (IETF draft names), Retry-After on a 429."""
    current = current_app.extensions["rate_limiter"].current_limit
    if current is None:
        return response
    try:
        window = current.window  # one storage read: (reset time, remaining)
        reset_in = max(0, math.ceil(window.reset_time - time.time()))
        remaining = max(0, window.remaining)
    except Exception:  # the storage failed after the check: the headers are a courtesy
        log.warning("rate limits: cannot read the window for headers", exc_info=True)
        return response
    item = current.limit
    response.headers["RateLimit-Limit"] = str(item.amount)
    response.headers["RateLimit-Remaining"] = str(remaining)
    response.headers["RateLimit-Reset"] = str(reset_in)
    response.headers["RateLimit-Policy"] = f"{item.amount};w={item.get_expiry()}"
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, reset_in))
    return response


def storage_settings(config) -> dict:
    if not config["REDIS_URL"]:
        return {"storage_uri": "memory://"}
    timeout = config["REDIS_TIMEOUT"]  # a hung Redis must not hang requests
    return {"storage_uri": config["REDIS_URL"],
            "storage_options": {"socket_connect_timeout": timeout, "socket_timeout": timeout}}


def init_rate_limits(app: Flask) -> Limiter | None:
    """Limit the API routes; call after the authentication hook is registered."""
    if not app.config["RATE_LIMITS_ENABLED"]:
        return None
    limiter = ReportingLimiter(
        rate_limit_key,
        application_limits=[rate_limit_value],
        strategy="fixed-window",
        key_prefix=app.config["RATE_LIMIT_KEY_PREFIX"],
        in_memory_fallback_enabled=True,
        swallow_errors=True,  # should even the fallback fail: serve, log, never a 500
        headers_enabled=False,  # ours follow the IETF draft and add Retry-After on 429 only
        request_identifier=lambda: request.endpoint or "unmatched",  # 404s count too
        **storage_settings(app.config),
    )
    limiter.request_filter(is_exempt)
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.after_request(add_rate_limit_headers)
    return limiter
