"""Supabase Auth access tokens (the JWT supabase-js hands a signed-in front end), checked locally.

Asymmetric tokens (ES256, RS256) are verified with the project's published keys at
`$SUPABASE_URL/auth/v1/.well-known/jwks.json`; legacy HS256 tokens only when
SUPABASE_JWT_SECRET is set. The algorithm is taken from the token only to choose where its key
comes from, and the key must be of that very algorithm: an HS256 token is checked with the
secret and nothing else, so a public key can never be used as an HMAC secret.
"""

import re
import uuid
from collections.abc import Mapping

import jwt
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from .errors import ExpiredCredential, InvalidCredential
from .jwks import ASYMMETRIC_ALGORITHMS, KeySet

AUDIENCE = "authenticated"
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# Supabase's access tokens are one or two kilobytes; far larger input is refused unparsed.
MAX_TOKEN_LENGTH = 16 * 1024
# Three base64url segments, the first a JSON object ('{"' encodes as "ey").
_JWT_SHAPE = re.compile(r"ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def looks_like_jwt(credential: str) -> bool:
    """Whether a bearer value has the shape of a JWT (else it may be an API key)."""
    return isinstance(credential, str) and _JWT_SHAPE.fullmatch(credential) is not None


class SupabaseTokens:
    """Verifies access tokens of one Supabase project; thread-safe, one per app."""

    def __init__(self, url: str, *, secret: str | None = None, leeway: float = 5,
                 refetch_interval: float = 5.0, cache_seconds: float = 600.0,
                 timeout: float = 3.0) -> None:
        self.issuer = url.rstrip("/") + "/auth/v1"
        self.secret = secret
        self.leeway = leeway
        self.keys = KeySet(self.issuer + "/.well-known/jwks.json", timeout=timeout,
                           refetch_interval=refetch_interval, cache_seconds=cache_seconds)

    @classmethod
    def from_config(cls, config: Mapping) -> "SupabaseTokens | None":
        """The verifier the settings describe, or None when SUPABASE_URL is not set."""
        if not config.get("SUPABASE_URL"):
            return None
        return cls(config["SUPABASE_URL"], secret=config.get("SUPABASE_JWT_SECRET"),
                   leeway=config["SUPABASE_JWT_LEEWAY"],
                   refetch_interval=config["SUPABASE_JWKS_REFETCH_INTERVAL"],
                   cache_seconds=config["SUPABASE_JWKS_CACHE_SECONDS"],
                   timeout=config["SUPABASE_JWKS_TIMEOUT"])

    def verify(self, token: str) -> dict:
        """The token's claims once signature, time, issuer, audience and subject check out.

        Raises ExpiredCredential, InvalidCredential (both 401) or KeySetUnavailable (503).
        """
        algorithm, key = self._key_for(self._header(token))
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": REQUIRED_CLAIMS})
        except ExpiredSignatureError:
            raise ExpiredCredential() from None
        except PyJWTError:
            raise InvalidCredential() from None
        if not is_uuid(claims["sub"]):  # Supabase user ids are UUIDs (agents.user_id)
            raise InvalidCredential()
        return claims

    def _header(self, token: str) -> dict:
        if not looks_like_jwt(token) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidCredential()
        try:
            return jwt.get_unverified_header(token)
        except PyJWTError:
            raise InvalidCredential() from None

    def _key_for(self, header: dict) -> tuple[str, object]:
        """The algorithm to verify with and its key; `alg: none` and the like go no further."""
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.secret:
            return algorithm, self.secret
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise InvalidCredential()
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidCredential()
        key = self.keys.key(kid)
        if key.algorithm_name != algorithm:  # e.g. an RS256 token naming an EC key
            raise InvalidCredential()
        return algorithm, key.key


def is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
