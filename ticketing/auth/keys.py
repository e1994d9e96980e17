"""API-key secrets: made at random, recognisable by their prefix, stored only as a hash."""

import hashlib
import secrets

SECRET_PREFIX = "tkt_"
SHOWN_PREFIX_LENGTH = 12  # "tkt_" and 8 random characters: enough to tell keys apart


def new_secret() -> str:
    """A key with 256 bits of randomness, e.g. `tkt_3q2-Vd...`."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(SECRET_PREFIX)


def shown_prefix(secret: str) -> str:
    return secret[:SHOWN_PREFIX_LENGTH]
