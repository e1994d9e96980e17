"""Configuration read from the environment; tests subclass Config."""

import os
from urllib.parse import urlsplit

from limits import parse_many


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    try:
        return float(value) if value is not None else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str | None) -> str | None:
    """Accept the `postgres://` and `postgresql://` forms Supabase and Heroku hand out."""
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


# What the rate limiter's storage (the `limits` package) accepts for Redis.
REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")


class Config:
    """Settings of one app instance, read from the environment when instantiated."""

    TESTING = False

    def __init__(self) -> None:
        self.DATABASE_URL = normalize_database_url(env_str("DATABASE_URL"))
        self.MIGRATIONS_DATABASE_URL = normalize_database_url(env_str("MIGRATIONS_DATABASE_URL"))
        # A connection per request thread of a gunicorn worker, plus one for its relay thread.
        self.DB_POOL_SIZE = env_int("DB_POOL_SIZE", env_int("GUNICORN_THREADS", 4) + 1)
        self.DB_MAX_OVERFLOW = env_int("DB_MAX_OVERFLOW", 2)
        # Autocommit connections for reads (db.Database.reader): one per request thread.
        self.DB_READ_POOL_SIZE = env_int("DB_READ_POOL_SIZE", env_int("GUNICORN_THREADS", 4))
        self.DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 5.0)
        self.DB_POOL_RECYCLE = env_int("DB_POOL_RECYCLE", 1800)
        self.DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 3)
        self.DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 15000)
        self.DB_POOLER_MODE = env_str("DB_POOLER_MODE", "session")

        self.API_PREFIX = (env_str("API_PREFIX", "api") or "").strip("/")
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
        # Proxies in front that set X-Forwarded-*; none unless the deployment says so
        # (deploy/ticketing.env.example: 1 for nginx).
        self.PROXY_HOPS = env_int("PROXY_HOPS", 0)
        # Writes (PATCH, DELETE) must name the version they change with If-Match (else 428).
        self.REQUIRE_IF_MATCH = env_bool("REQUIRE_IF_MATCH", False)
        # How long a response is kept for replays of its Idempotency-Key.
        self.IDEMPOTENCY_TTL_HOURS = env_float("IDEMPOTENCY_TTL_HOURS", 24.0)
        # Browser origins allowed to call the API, comma-separated ("*" for any); none by default.
        self.CORS_ORIGINS = [origin.strip() for origin in (env_str("CORS_ORIGINS") or "").split(",")
                             if origin.strip()]
        self.LOG_LEVEL = (env_str("LOG_LEVEL", "INFO") or "INFO").upper()
        self.LOG_FORMAT = env_str("LOG_FORMAT", "json")
        self.DEBUG = env_bool("DEBUG", False)

        # Access control: see README "Access control".
        self.AUTH_ANONYMOUS_ROLE = env_str("AUTH_ANONYMOUS_ROLE")
        self.AUTH_CACHE_SECONDS = env_float("AUTH_CACHE_SECONDS", 30.0)

        self.ABLY_API_KEY = env_str("ABLY_API_KEY")
        self.ABLY_CHANNEL = env_str("ABLY_CHANNEL", "tickets-updates")
        self.ABLY_AGENTS_CHANNEL = env_str("ABLY_AGENTS_CHANNEL", "agents-updates")
        self.ABLY_ENDPOINT = env_str("ABLY_ENDPOINT")
        self.ABLY_PORT = env_int("ABLY_PORT", 0) or None
        self.ABLY_TLS = env_bool("ABLY_TLS", True)
        self.ABLY_TIMEOUT = env_float("ABLY_TIMEOUT", 5.0)
        self.ABLY_TOKEN_TTL = env_int("ABLY_TOKEN_TTL", 3600)
        self.REALTIME_RELAY = env_str("REALTIME_RELAY", "thread")
        self.REALTIME_POLL_INTERVAL = env_float("REALTIME_POLL_INTERVAL", 1.0)
        self.REALTIME_COALESCE_WINDOW = env_float("REALTIME_COALESCE_WINDOW", 0.02)
        self.REALTIME_BATCH_SIZE = env_int("REALTIME_BATCH_SIZE", 500)
        self.REALTIME_MAX_BACKOFF = env_float("REALTIME_MAX_BACKOFF", 30.0)
        self.REALTIME_PUBLISH_CONCURRENCY = env_int("REALTIME_PUBLISH_CONCURRENCY", 8)
        # An event is retried until either runs out, then marked failed (`flask realtime retry`).
        self.REALTIME_MAX_ATTEMPTS = env_int("REALTIME_MAX_ATTEMPTS", 50)
        self.REALTIME_MAX_EVENT_AGE = env_float("REALTIME_MAX_EVENT_AGE", 3600.0)
        self.EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 90)
        self.READY_MAX_PENDING_EVENTS = env_int("READY_MAX_PENDING_EVENTS", 10000)
        self._require_choice("REALTIME_RELAY", ("thread", "off"))
        self._require_choice("DB_POOLER_MODE", ("session", "transaction"))
        self._require_range("DB_READ_POOL_SIZE", 0, 1000)
        self._require_choice("LOG_FORMAT", ("json", "text"))
        self._require_choice("AUTH_ANONYMOUS_ROLE", (None, "viewer", "agent"))
        if not 0 <= self.AUTH_CACHE_SECONDS <= 30:
            raise ValueError("AUTH_CACHE_SECONDS must be between 0 and 30")
        self._read_supabase_settings()
        self._read_rate_limit_settings()

        # flask-smorest / OpenAPI
        self.API_TITLE = "Ticketing API"
        self.API_VERSION = "1.0.0"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.JSON_SORT_KEYS = False

    def _require_choice(self, name: str, choices: tuple[str | None, ...]) -> None:
        """Fail at start-up on a typo rather than silently running differently."""
        if getattr(self, name) not in choices:
            named = ", ".join(choice for choice in choices if choice is not None)
            raise ValueError(f"{name} must be one of {named}, "
                             f"not {getattr(self, name)!r}")

    def _read_supabase_settings(self) -> None:
        """Supabase Auth access tokens (see ticketing/auth/supabase.py and README)."""
        self.SUPABASE_URL = (env_str("SUPABASE_URL") or "").rstrip("/") or None
        self.SUPABASE_JWT_SECRET = env_str("SUPABASE_JWT_SECRET")
        self.SUPABASE_JWT_LEEWAY = env_int("SUPABASE_JWT_LEEWAY", 5)
        self.SUPABASE_JWKS_REFETCH_INTERVAL = env_float("SUPABASE_JWKS_REFETCH_INTERVAL", 5.0)
        self.SUPABASE_JWKS_CACHE_SECONDS = env_float("SUPABASE_JWKS_CACHE_SECONDS", 600.0)
        self.SUPABASE_JWKS_TIMEOUT = env_float("SUPABASE_JWKS_TIMEOUT", 3.0)
        if self.SUPABASE_URL:
            parts = urlsplit(self.SUPABASE_URL)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                raise ValueError("SUPABASE_URL must look like https://PROJECT.supabase.co, "
                                 f"not {self.SUPABASE_URL!r}")
        if self.SUPABASE_JWT_SECRET and not self.SUPABASE_URL:
            raise ValueError("SUPABASE_JWT_SECRET needs SUPABASE_URL (the tokens' issuer)")
        if self.SUPABASE_JWT_SECRET and len(self.SUPABASE_JWT_SECRET) < 32:
            raise ValueError("SUPABASE_JWT_SECRET must be at least 32 characters (Supabase's are)")
        self._require_range("SUPABASE_JWT_LEEWAY", 0, 300)
        self._require_range("SUPABASE_JWKS_REFETCH_INTERVAL", 0.1, 3600)
        self._require_range("SUPABASE_JWKS_CACHE_SECONDS", 1, 86400)
        self._require_range("SUPABASE_JWKS_TIMEOUT", 0.1, 60)

    def _read_rate_limit_settings(self) -> None:
        """Rate limits (see ticketing/auth/limits.py and README)."""
        self.RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", True)
        self.RATE_LIMIT_DEFAULT = env_str("RATE_LIMIT_DEFAULT", "600 per minute")
        self.RATE_LIMIT_ANONYMOUS = env_str("RATE_LIMIT_ANONYMOUS", "30 per minute")
        self.RATE_LIMIT_KEY_PREFIX = env_str("RATE_LIMIT_KEY_PREFIX", "ticketing")
        self.REDIS_URL = env_str("REDIS_URL")
        self.REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 0.5)
        for name in ("RATE_LIMIT_DEFAULT", "RATE_LIMIT_ANONYMOUS"):
            try:
                items = parse_many(getattr(self, name))
                if not items or any(item.amount < 1 for item in items):
                    raise ValueError
            except ValueError:
                raise ValueError(f"{name} must read like '600 per minute' or "
                                 f"'30/minute;500/hour', not {getattr(self, name)!r}") from None
        if self.REDIS_URL and urlsplit(self.REDIS_URL).scheme not in REDIS_SCHEMES:
            raise ValueError(f"REDIS_URL must start with one of {', '.join(REDIS_SCHEMES)}://")
        self._require_range("REDIS_TIMEOUT", 0.01, 30)

    def _require_range(self, name: str, low: float, high: float) -> None:
        if not low <= getattr(self, name) <= high:
            raise ValueError(f"{name} must be between {low} and {high}, not {getattr(self, name)}")
