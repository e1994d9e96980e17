"""Stored answers are sealed with the Idempotency-Key itself.

The table keeps only a digest of each key, and each answer encrypted (AES-GCM) under a key
derived from the client's Idempotency-Key and its caller. Whoever reads the table (a backup, a
leaked dump) learns neither the answers (ticket contents, a new API key's secret) nor the keys
that would open them; only the client that sent the key can have its answer replayed.
"""

import base64
import hashlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def key_digest(scope: str, key: str) -> str:
    """What the table stores in place of the key (hex SHA-256)."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def _cipher(scope: str, key: str) -> "AESGCM":
    # Imported with the first Idempotency-Key, not in every worker at start: cryptography's
    # bindings are most of 10 MB that a worker without idempotent retries never needs.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"ticketing idempotency answer").derive(f"{scope}\n{key}".encode())
    return AESGCM(derived)


def seal(scope: str, key: str, body: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(scope, key).encrypt(nonce, body.encode(), scope.encode())
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(scope: str, key: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return _cipher(scope, key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                       scope.encode()).decode()
