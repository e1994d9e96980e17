"""Rate limits: a budget per credential, and one per client address for requests without a valid
credential, so that guessing API keys or tokens gets nowhere.

One application-wide budget per caller (all API routes share it), counted in fixed windows:
RATE_LIMIT_DEFAULT for a valid credential, keyed on `g.actor.scope`, which the authentication
hook (registered before this one) sets; RATE_LIMIT_ANONYMOUS per client address otherwise.
Counters live in Redis when REDIS_URL is set, so every worker and machine shares them, and in
the process otherwise (`make run`); ticketing/auth/counters.py keeps serving from memory while
Redis is down.

The check is a plain before_request hook over `counters.py` rather than Flask-Limiter: that
extension re-resolves its limits, exemptions and scopes on every request and reads the window
back from the storage for the headers, which cost a GET by id more than a quarter of its time.
"""

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from prometheus_client import Counter

from ..errors import error_body
from .actor import Actor
from .counters import Counters, make_counters

log = logging.getLogger(__name__)

LIMITED = Counter("rate_limited_requests_total", "API requests refused with 429", ["caller"])

# The environ key under which api/fast_path.py hands Flask a request it has already counted.
COUNTED_WINDOW = "ticketing.rate_limit_window"

# Routes outside the API prefix are never limited; with an empty API_PREFIX these stay free.
UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


@dataclass(frozen=True)
class Window:
    """One limit's window after this request's hit."""

    limit: RateLimitItem
    count: int
    ends_at: float  # epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit.amount - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit.amount

    def reset_in(self) -> int:
        return max(0, math.ceil(self.ends_at - time.time()))


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


def has_credential(actor: Actor | None) -> bool:
    """Whether the caller came with a valid credential (not let in by the anonymous role)."""
    return actor is not None and actor.type != "anonymous"


def caller_key(actor: Actor | None, remote_addr: str | None) -> str:
    """What a caller's hits are counted under; `actor` None: a refused credential."""
    if has_credential(actor):
        return f"credential:{actor.scope}"
    # Let in by AUTH_ANONYMOUS_ROLE ("anonymous") or refused ("address"): per client address.
    kind = "anonymous" if actor is not None else "address"
    return f"{kind}:{client_network(remote_addr)}"


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


class RateLimiter:
    """Counts each API request against its caller's limits; refuses it with 429 past one."""

    def __init__(self, config, counters: Counters) -> None:
        self.counters = counters
        self.prefix = config["RATE_LIMIT_KEY_PREFIX"]
        self.with_credential = parse_many(config["RATE_LIMIT_DEFAULT"])
        self.anonymous = parse_many(config["RATE_LIMIT_ANONYMOUS"])

    def check(self):
        """before_request: count the hit (unless the fast path has); the 429 when over a limit."""
        if is_exempt():
            return None
        window = request.environ.get(COUNTED_WINDOW)
        if window is None:
            window = self.count_hit(g.get("actor"), request.remote_addr)
        g.rate_limit = window
        if window.exceeded:
            return too_many_requests(window)
        return None

    def count_hit(self, actor: Actor | None, remote_addr: str | None) -> Window:
        """Count one request of this caller; `actor` None: one with a refused credential."""
        # Callers let in by AUTH_ANONYMOUS_ROLE have an actor: they get the default limits.
        limits = self.with_credential if actor is not None else self.anonymous
        return self.count(caller_key(actor, remote_addr), limits)

    def count(self, caller: str, limits: list[RateLimitItem]) -> Window:
        """Hit each limit in turn, up to the first one exceeded; the window to report: that one,
        or else the one with the fewest requests left."""
        windows = []
        for limit in limits:
            count, ends_at = self.counters.hit(
                limit.key_for(self.prefix, caller), limit.get_expiry())
            windows.append(Window(limit, count, ends_at))
            if windows[-1].exceeded:
                return windows[-1]
        return min(windows, key=lambda window: window.remaining)


def too_many_requests(window: Window):
    LIMITED.labels("credential" if has_credential(g.get("actor")) else "address").inc()
    message = f"Too many requests: the limit is {window.limit}, try again later"
    return error_body(429, message), 429


def add_rate_limit_headers(response):
    """RateLimit-* on every limited response (IETF draft names), Retry-After on a 429."""
    window: Window | None = g.get("rate_limit")
    if window is not None:
        # extend(), not one assignment each: the response has none of these yet (a 429 included).
        response.headers.extend(rate_limit_headers(window, response.status_code))
    return response


def rate_limit_headers(window: Window, status: int) -> list[tuple[str, str]]:
    reset_in = window.reset_in()
    headers = [("RateLimit-Limit", str(window.limit.amount)),
               ("RateLimit-Remaining", str(window.remaining)),
               ("RateLimit-Reset", str(reset_in)),
               ("RateLimit-Policy", f"{window.limit.amount};w={window.limit.get_expiry()}")]
    if status == 429:
        headers.append(("Retry-After", str(max(1, reset_in))))
    return headers


def init_rate_limits(app: Flask) -> RateLimiter | None:
    """Limit the API routes; call after the authentication hook is registered."""
    if not app.config["RATE_LIMITS_ENABLED"]:
        return None
    limiter = app.extensions["rate_limiter"] = RateLimiter(app.config, make_counters(app.config))
    app.before_request(limiter.check)
    app.after_request(add_rate_limit_headers)
    return limiter
