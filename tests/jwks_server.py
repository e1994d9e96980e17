"""A local stand-in for Supabase Auth's key set endpoint, plus keys and tokens for tests.

    with JwksServer() as server:                     # port=0: the OS picks a free port
        signer = Signer.es256()                      # or Signer.rs256(), Signer.hs256(secret)
        server.publish(signer)                       # served at server.url + JWKS_PATH
        token = signer.token(server.issuer, sub=...)

The server counts `fetches`, answers `status` (e.g. 500) or `body` (raw bytes) when told,
holds each answer `delay` seconds, and `refuse()` / `start()` close and reopen its port.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value) -> str:
    return b64url(json.dumps(value).encode())


@dataclass
class Signer:
    """A signing key and what the key set publishes for it."""

    algorithm: str
    private: object
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def es256(cls) -> "Signer":
        return cls("ES256", ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rs256(cls) -> "Signer":
        return cls("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def hs256(cls, secret: str) -> "Signer":
        return cls("HS256", secret)

    def jwk(self) -> dict:
        """The public key as Supabase publishes it."""
        elliptic = isinstance(self.private, ec.EllipticCurvePrivateKey)
        to_jwk = ECAlgorithm.to_jwk if elliptic else RSAAlgorithm.to_jwk
        return {**to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid,
                "alg": self.algorithm, "use": "sig", "key_ops": ["verify"]}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, issuer: str, headers: dict | None = None, **claims) -> str:
        """A Supabase-like access token; claims override the defaults (None drops one)."""
        payload = supabase_claims(issuer, **claims)
        # Legacy HS256 tokens name no key; the published ones do.
        extra = {} if self.algorithm == "HS256" else {"kid": self.kid}
        extra.update(headers or {})
        return jwt.encode(payload, self.private, algorithm=self.algorithm, headers=extra)


def supabase_claims(issuer: str, **overrides) -> dict:
    now = int(time.time())
    claims = {"iss": issuer, "sub": str(uuid.uuid4()), "aud": "authenticated",
              "exp": now + 3600, "iat": now, "role": "authenticated",
              "email": "jane@example.com", "session_id": str(uuid.uuid4()), **overrides}
    return {name: value for name, value in claims.items() if value is not None}


def hand_made_token(header: dict, claims: dict, key: bytes | None = None) -> str:
    """A token built by hand: `alg: none`, or HMAC with whatever bytes an attacker picks."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = b""
    if key is not None:
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class JwksServer:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.keys: list[dict] = []
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self.fetches = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.url + "/auth/v1"

    def publish(self, *signers: Signer) -> None:
        self.keys = [signer.jwk() for signer in signers]

    def start(self) -> "JwksServer":
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def refuse(self) -> None:
        """Close the listening socket: clients get connection refused."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "JwksServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.refuse()

    def _answer(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            self.fetches += 1
        time.sleep(self.delay)
        if path != JWKS_PATH:
            return 404, b'{"error": "not found"}'
        if self.body is not None:
            return self.status, self.body
        if self.status != 200:
            return self.status, b'{"error": "unavailable"}'
        return 200, json.dumps({"keys": self.keys}).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = server._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler
