"""FakeAbly: a local stand-in for Ably's REST API, for tests and benchmarks.

It speaks enough of the REST protocol for the real SDK (``ably.sync.AblyRestSync``, ably-python
3.1.4) to publish, read history and obtain tokens over plain HTTP, and it can be told to fail.
Standard library only, plus ``msgpack`` (an ably dependency) for the binary protocol.

Usage::

    with FakeAbly() as server:                  # port=0: the OS picks a free port
        client = AblyRestSync(**server.client_options())
        client.channels.get("tickets-updates").publish("ticket_created", {"id": 1})
        server.published("tickets-updates")     # [{"id", "name", "data": {"id": 1}, ...}]

    python -m tests.fakeably --port 8089 --delay 0.3    # foreground, prints FAKEABLY_KEY=...

Public API of ``FakeAbly(port=0, host="127.0.0.1", key=DEFAULT_KEY, capability=None,
dedup_window=120.0)``:

* ``start()`` / ``stop()``; context manager; ``port``, ``host``, ``url``, ``key``,
  ``key_name``, ``running``; ``client_options(**overrides)`` -> AblyRestSync kwargs.
* ``dedup_window``: seconds during which a message id already accepted on a channel is
  acknowledged without being stored again, like Ably's idempotent publishing (about two
  minutes there); later, the same id is a new message that subscribers see again. Settable.
* ``published(channel)``: accepted messages, oldest first, de-duplicated by id, as dicts with
  ``id, name, data, encoding, clientId, extras, timestamp, serial, channel``. ``data`` is
  decoded (a dict for JSON data, bytes for binary); ``encoding`` keeps what could not be decoded
  (e.g. a cipher), else None. ``wait_for(channel, count, timeout)`` waits for background publishers.
* ``publish_requests``: publish HTTP requests received (channel and batch), failed and
  duplicate ones included; ``batch_requests``: ``POST /messages`` requests alone.
* ``token_requests``: every requestToken body received: ``keyName, ttl, capability`` (decoded
  dict or None), ``clientId, timestamp, nonce, accepted`` (bool), ``error`` (code or None).
* ``request_log``: ``(method, path, status)`` for every request answered.
* Failure modes for publishes, switchable while requests are in flight:
  ``fail_with(status=503, code=None, message=None, times=None)`` answers an Ably error body
  (``times``: only the next N publishes); ``hang(seconds=60)`` holds publishes that long, then
  answers 504 without recording (recover()/stop() release them early); ``delay(seconds)`` makes
  publishes succeed after a delay; ``hold_acks(seconds=60)`` records publishes but holds the
  answer, then 504 (Ably took the message, the reply was lost); ``fail_with(...,
  retry_after=s)`` adds a ``Retry-After`` header (e.g. with 429); ``fail_channel(channel,
  status=401, code=40160, message=None, times=None)`` refuses one channel only (in a batch,
  only that channel's results fail); ``recover()`` clears all of these.
* ``refuse()`` closes the listening socket (clients get connection refused); ``start()`` binds
  the same port again, keeping all recorded state.
* ``expire_tokens()`` makes every issued token expired (the SDK then fetches a new one and retries).
* ``reset()`` clears messages, de-dup ids, counters, token_requests and request_log; issued tokens
  stay valid so existing clients keep working.

Endpoints: ``GET /time``; ``POST /keys/{keyName}/requestToken``; ``POST`` and ``GET
/channels/{name}/messages`` (name percent-encoded, ``+`` = space as the SDK sends it); ``POST
/messages``, Ably's batch publish (what ``rest.request("POST", "/messages", ...)`` sends): a
BatchSpec ``{"channels": name or [names], "messages": message or [messages]}`` or a list of
them; each spec's messages are published to each of its channels as one multi-message publish
(same id rules, all or nothing per channel). The answer has one result per spec,
``{"successCount", "failureCount", "results": [{"channel", "messageId", "serials"} or
{"channel", "error"}]}``: 201 with the list when all succeeded, else 400 with code 40020 and
``{"error": {...}, "batchResponse": [...]}``. Anything else is 404. Errors are Ably-style
``{"error": {"message", "code", "statusCode", "href"}}``, in
msgpack or JSON according to the request's Accept header, like Ably.

What the SDK (ably-python 3.1.4, sync client) does, read from its source and checked by
tests/test_fakeably.py:

* Client kwargs that work: ``key=server.key, endpoint="127.0.0.1", port=PORT, tls=False,
  use_token_auth=True, http_open_timeout=2, http_request_timeout=2, http_max_retry_count=1,
  fallback_hosts=[]``. ``port`` is only used when ``tls=False`` (``tls_port`` otherwise).
* The timeouts are SECONDS, not milliseconds: they go straight into ``httpx`` as
  ``(connect, read)``. ``http_request_timeout=2000`` means 33 minutes. ``publish(...,
  timeout=...)`` is accepted but ignored; only the client options count.
* ``http_max_retry_count`` is the total number of hosts tried, main host included. 0 is broken:
  no request is ever sent and the first call fails with ``AttributeError`` ("'NoneType' object
  has no attribute ..."; make_request returns None). Use 1.
* Fallback hosts: none when ``endpoint`` contains a "." or "localhost" (so not for 127.0.0.1).
  For a plain routing-policy endpoint such as "main" there are five ``*.fallback.ably-realtime.com``
  hosts; ``fallback_hosts=[]`` disables them. Network errors and 500-504 answers are only
  retried on the next host, so with one host nothing is retried.
* Without ``use_token_auth=True`` a key means Basic auth, which the SDK refuses to send over
  plain HTTP (AblyAuthException 40103, raised before any request).
* Token auth: the SDK signs a token request locally (HMAC-SHA256 over
  ``keyName\\nttl\\ncapability\\nclientId\\ntimestamp\\nnonce\\n``, base64 mac, 16-character
  nonce), POSTs it to ``/keys/{keyName}/requestToken`` without auth, then sends
  ``Authorization: Bearer base64(token)``. On a 401 with code 40140-40149 it re-authorises once
  and retries; 40160 (capability) is not retried. ``create_token_request`` sends no HTTP.
* Wire format: msgpack by default (``use_binary_protocol=True``): ``Content-Type`` and
  ``Accept: application/x-msgpack``. ``use_binary_protocol=False`` gives JSON. Either way a dict
  or list ``data`` travels as a JSON string with ``encoding: "json"``.
* A publish of one message sends a single object, of several a list. Idempotent publishing is
  on: if no message has an id the SDK gives them ``<base64 random>:<index>`` ids and writes those
  ids back into the Message objects, so re-publishing the same objects is de-duplicated. If only
  some messages of a batch have ids, the others get none (the server then assigns them).
* ``data`` must be str, bytes, dict, list or None: an int or bool raises AblyException 40011
  ("Invalid data payload") before any request.
* Exceptions: HTTP errors raise ``ably.sync.AblyException`` (defined in
  ``ably.sync.util.exceptions``; NOT the same class as ``ably.AblyException``); a 401 raises its
  subclass ``ably.sync.AblyAuthException``. Network errors from publish() are raw httpx
  exceptions (``httpx.ConnectError`` when refused, ``httpx.ReadTimeout`` when hung), but
  history(), time() and stats() wrap everything in ``AblyException(status_code=500,
  code=50000, message="Unexpected exception: ConnectError: ...")``.
* ``Message`` for the sync client is ``ably.sync.types.message.Message`` (not exported by
  ``ably.sync``). ``publish(messages=[...])`` duck-types, but ``publish(message)`` and
  ``publish([...])`` positional calls check the class.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, unquote_plus, urlencode, urlsplit

import msgpack

log = logging.getLogger(__name__)

DEFAULT_KEY = "fakeapp.fakekey:fakesecret"
MSGPACK = "application/x-msgpack"
JSON = "application/json"
DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000
TOKEN_REQUEST_WINDOW_MS = 10 * 60 * 1000
MAX_PUBLISH_BYTES = 64 * 1024
MAX_BATCH_BYTES = 2 * 1024 * 1024  # this server's limit for one POST /messages
DEFAULT_DEDUP_WINDOW = 120.0  # seconds: Ably de-duplicates a message id for about 2 minutes


class AblyError(Exception):
    """An error answered to the client as an Ably error body."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after: float | None = None  # seconds, sent as a Retry-After header

    def body(self) -> dict:
        return {"error": {"message": self.message, "code": self.code, "statusCode": self.status,
                          "href": f"https://help.ably.io/error/{self.code}"}}


def now_ms() -> int:
    return int(time.time() * 1000)


def sign_token_request(secret: str, request: dict) -> str:
    """The mac Ably expects on a token request (same text and order as the SDK signs)."""
    fields = [request.get("keyName"), request.get("ttl"), request.get("capability"),
              request.get("clientId"), request.get("timestamp") or 0, request.get("nonce")]
    text = "".join(f"{'' if value is None else value}\n" for value in fields)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def decode_data(data, encoding):
    """Undo Ably message encodings (json, base64, utf-8); returns (data, leftover encoding)."""
    steps = [step for step in (encoding or "").split("/") if step]
    while steps:
        step = steps[-1]
        if step == "json" and isinstance(data, str | bytes):
            data = json.loads(data)
        elif step == "base64" and isinstance(data, str):
            data = base64.b64decode(data)
        elif step == "utf-8" and isinstance(data, bytes | bytearray):
            data = bytes(data).decode()
        elif step != "utf-8":
            break  # e.g. "cipher+aes-128-cbc": only the client can decode it
        steps.pop()
    return data, "/".join(steps) or None


def capability_allows(capability: dict, channel: str, operation: str) -> bool:
    return any(
        resource_matches(resource, channel) and ("*" in ops or operation in ops)
        for resource, ops in capability.items())


def resource_matches(resource: str, channel: str) -> bool:
    # Ably wildcards: "*" is every channel, "ns:*" every channel whose name starts with "ns:".
    if resource in ("*", channel):
        return True
    return resource.endswith("*") and channel.startswith(resource[:-1])


def parse_capability(raw) -> dict:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise AblyError(400, 40000, "capability is not valid JSON") from None
    valid = isinstance(value, dict) and all(
        isinstance(ops, list) and all(isinstance(op, str) for op in ops) for ops in value.values())
    if not valid:
        raise AblyError(400, 40000, "capability must map resources to lists of operations")
    return value


@dataclass
class Grant:
    """What a request's credentials allow."""

    capability: dict
    client_id: str | None = None


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes = b""
    binary_reply: bool = field(init=False)

    def __post_init__(self):
        # Ably answers in the format the client accepts; the SDK asks for what it sends.
        self.binary_reply = MSGPACK in self.headers.get("accept", "")

    def payload(self):
        content_type = self.headers.get("content-type", "")
        try:
            if content_type.startswith(MSGPACK):
                return msgpack.unpackb(self.body, raw=False)
            return json.loads(self.body or b"null")
        except (ValueError, msgpack.UnpackException):
            raise AblyError(400, 40000, f"Unable to decode {content_type or 'body'}") from None


@dataclass
class Reply:
    status: int
    payload: object
    headers: dict = field(default_factory=dict)


class FakeAbly:
    """A fake Ably REST service running in a background thread; see the module docstring."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", key: str = DEFAULT_KEY,
                 capability: dict | None = None, dedup_window: float = DEFAULT_DEDUP_WINDOW,
                 keep_alive: bool = False):
        self.host, self._port, self.key = host, port, key
        # HTTP/1.1 keep-alive as Ably's servers do (the benchmark); off by default, so that
        # refuse() leaves no idle connection a client could go on using.
        self.keep_alive = keep_alive
        self.dedup_window = dedup_window
        self.key_name, _, self._secret = key.partition(":")
        if "." not in self.key_name or not self._secret:
            raise ValueError("key must look like 'appid.keyid:secret'")
        self.key_capability = capability or {"*": ["*"]}
        self._cond = threading.Condition()  # guards all recorded state below
        self._wake = threading.Event()  # set to release hung publishes
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tokens: dict[str, dict] = {}
        self._nonces: set[str] = set()
        self._serial = 0
        self.recover()
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAbly:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self._port),
                            _KeepAliveHandler if self.keep_alive else _Handler)
        httpd.fake = self
        self._port = httpd.server_address[1]  # keep it so a restart reuses the same port
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fakeably-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._release_hung()
        httpd.shutdown()
        httpd.server_close()
        self._thread.join()

    def refuse(self) -> None:
        """Stop listening so clients get connection refused; start() resumes on the same port."""
        self.stop()

    def __enter__(self) -> FakeAbly:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def client_options(self, **overrides) -> dict:
        """Keyword arguments for AblyRestSync that point it at this server."""
        options = {"key": self.key, "endpoint": self.host, "port": self._port, "tls": False,
                   "use_token_auth": True, "http_open_timeout": 2, "http_request_timeout": 2,
                   "http_max_retry_count": 1, "fallback_hosts": []}
        return {**options, **overrides}

    # -- failure modes ---------------------------------------------------------------------

    def fail_with(self, status: int = 503, code: int | None = None, message: str | None = None,
                  times: int | None = None, retry_after: float | None = None) -> None:
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status")
        error = AblyError(status, code or status * 100, message or f"FakeAbly: simulated {status}")
        error.retry_after = retry_after  # e.g. with 429: Ably says when to come back
        with self._cond:
            self._failure, self._failures_left = error, times

    def fail_channel(self, channel: str, status: int = 401, code: int | None = 40160,
                     message: str | None = None, times: int | None = None) -> None:
        """Refuse publishes to `channel` alone (in a batch: that channel's results only)."""
        error = AblyError(status, code or status * 100,
                          message or f"FakeAbly: simulated {status} on channel {channel!r}")
        with self._cond:
            self._channel_failures[channel] = [error, times]

    def hang(self, seconds: float = 60) -> None:
        with self._cond:
            self._hang = seconds

    def hold_acks(self, seconds: float = 60) -> None:
        """Accept publishes (recorded, visible to subscribers) but hold the answer `seconds`,
        then answer 504: what a client sees when Ably took a message and the reply was lost."""
        with self._cond:
            self._hold_acks = seconds

    def delay(self, seconds: float) -> None:
        with self._cond:
            self._delay = seconds

    def recover(self) -> None:
        with self._cond:
            self._failure, self._failures_left, self._hang, self._delay = None, None, None, 0.0
            self._hold_acks = None
            self._channel_failures: dict[str, list] = {}
        self._release_hung()

    def expire_tokens(self) -> None:
        with self._cond:
            for token in self._tokens.values():
                token["expires"] = now_ms() - 1

    def _release_hung(self) -> None:
        # Hung requests wait on the current event; a fresh one is used for later hangs.
        with self._cond:
            self._wake.set()
            self._wake = threading.Event()

    # -- recorded state --------------------------------------------------------------------

    def reset(self) -> None:
        with self._cond:
            self._messages: dict[str, list[dict]] = {}
            # channel -> message id -> (serial, monotonic time first accepted)
            self._seen_ids: dict[str, dict[str, tuple[str, float]]] = {}
            self._publish_requests = 0
            self._batch_requests = 0
            self._duplicates = 0
            self._token_requests: list[dict] = []
            self._request_log: list[tuple[str, str, int]] = []

    def published(self, channel: str) -> list[dict]:
        with self._cond:
            stored = list(self._messages.get(channel, []))
        return [self._public_message(channel, message) for message in stored]

    def wait_for(self, channel: str, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until `channel` has at least `count` messages (for background publishers)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self._messages.get(channel, [])) >= count,
                                     timeout)
        if not ok:
            raise AssertionError(f"{channel!r}: expected {count} messages, got "
                                 f"{len(self.published(channel))} within {timeout}s")
        return self.published(channel)

    @property
    def publish_requests(self) -> int:
        with self._cond:
            return self._publish_requests

    @property
    def batch_requests(self) -> int:
        """POST /messages requests received (also counted in publish_requests)."""
        with self._cond:
            return self._batch_requests

    @property
    def duplicates(self) -> int:
        """Messages received again under an id already accepted (and not recorded twice)."""
        with self._cond:
            return self._duplicates

    @property
    def token_requests(self) -> list[dict]:
        with self._cond:
            return [dict(entry) for entry in self._token_requests]

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        with self._cond:
            return list(self._request_log)

    @staticmethod
    def _public_message(channel: str, stored: dict) -> dict:
        data, encoding = decode_data(stored.get("data"), stored.get("encoding"))
        fields = ("id", "name", "clientId", "extras", "timestamp", "serial")
        return {**{name: stored.get(name) for name in fields},
                "data": data, "encoding": encoding, "channel": channel}

    # -- request handling ------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        try:
            reply = self._route(request)
        except AblyError as error:
            reply = Reply(error.status, error.body(), {"X-Ably-Errorcode": str(error.code)})
            if getattr(error, "retry_after", None) is not None:
                reply.headers["Retry-After"] = f"{error.retry_after:g}"
        with self._cond:
            self._request_log.append((request.method, request.path, reply.status))
        return reply

    def _route(self, request: Request) -> Reply:
        parts = request.path.split("/")  # split before unquoting: names may contain %2F
        method = request.method
        if method == "GET" and request.path == "/time":
            return Reply(200, [now_ms()])
        if method == "POST" and request.path == "/messages":
            return self._batch_publish(request)
        if len(parts) == 4 and (method, parts[1], parts[3]) == ("POST", "keys", "requestToken"):
            return self._request_token(unquote(parts[2]), request)
        if len(parts) == 4 and parts[1] == "channels" and parts[3] == "messages":
            channel = unquote_plus(parts[2])  # the SDK quotes names with quote_plus
            if method == "POST":
                return self._publish(channel, request)
            if method == "GET":
                return self._history(channel, request)
        raise AblyError(404, 40400, f"FakeAbly: no route for {method} {request.path}")

    # -- auth ------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Grant:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self._token_grant(credentials.strip())
        if scheme.lower() == "basic":
            return self._basic_grant(credentials.strip())
        raise AblyError(401, 40101, "No authentication credentials supplied")

    def _basic_grant(self, credentials: str) -> Grant:
        try:
            supplied = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            supplied = None
        if supplied is None or not hmac.compare_digest(supplied, self.key):
            raise AblyError(401, 40101, "Invalid credentials")
        return Grant(self.key_capability)

    def _token_grant(self, credentials: str) -> Grant:
        # The SDK sends base64(token); Ably also accepts the bare token.
        with self._cond:
            token = self._tokens.get(_b64_text(credentials)) or self._tokens.get(credentials)
        if token is None:
            raise AblyError(401, 40143, "Token not recognised")
        if token["expires"] <= now_ms():
            raise AblyError(401, 40142, "Token expired")
        return Grant(token["capability"], token["clientId"])

    @staticmethod
    def _require(grant: Grant, channel: str, operation: str) -> None:
        if not capability_allows(grant.capability, channel, operation):
            raise AblyError(401, 40160, f"Action not permitted: {operation} on channel "
                                        f"{channel!r}")

    def _request_token(self, key_name: str, request: Request) -> Reply:
        body = request.payload()
        if not isinstance(body, dict):
            raise AblyError(400, 40000, "Token request must be an object")
        entry = self._record_token_request(body)
        try:
            details = self._issue_token(key_name, body)
        except AblyError as error:
            with self._cond:
                entry["error"] = error.code
            raise
        with self._cond:
            entry["accepted"] = True
        return Reply(200, details)

    def _record_token_request(self, body: dict) -> dict:
        try:
            capability = parse_capability(body["capability"]) if body.get("capability") else None
        except AblyError:
            capability = None
        entry = {"keyName": body.get("keyName"), "ttl": body.get("ttl"), "capability": capability,
                 "clientId": body.get("clientId"), "timestamp": body.get("timestamp"),
                 "nonce": body.get("nonce"), "accepted": False, "error": None}
        with self._cond:
            self._token_requests.append(entry)
        return entry

    def _issue_token(self, key_name: str, body: dict) -> dict:
        self._check_token_request(key_name, body)
        ttl = body.get("ttl") or DEFAULT_TOKEN_TTL_MS
        if not isinstance(ttl, int) or ttl <= 0:
            raise AblyError(400, 40003, "ttl must be a positive number of milliseconds")
        capability = self._granted_capability(body.get("capability"))
        issued = now_ms()
        token = {"token": f"fakeably.{secrets.token_urlsafe(24)}", "keyName": self.key_name,
                 "issued": issued, "expires": issued + ttl, "capability": capability,
                 "clientId": body.get("clientId")}
        with self._cond:
            self._tokens[token["token"]] = token
        details = {**token, "capability": json.dumps(capability, sort_keys=True)}
        return {name: value for name, value in details.items() if value is not None}

    def _check_token_request(self, key_name: str, body: dict) -> None:
        if key_name != self.key_name or body.get("keyName") != self.key_name:
            raise AblyError(401, 40101, f"Unknown key {body.get('keyName') or key_name!r}")
        mac = body.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(
                mac, sign_token_request(self._secret, body)):
            raise AblyError(401, 40101, "Invalid mac on token request")
        timestamp = body.get("timestamp")
        if not isinstance(timestamp, int) or abs(now_ms() - timestamp) > TOKEN_REQUEST_WINDOW_MS:
            raise AblyError(401, 40104, "Timestamp not current")
        nonce = body.get("nonce")
        if not isinstance(nonce, str) or len(nonce) < 16:
            raise AblyError(400, 40000, "nonce must be at least 16 characters")
        with self._cond:
            if nonce in self._nonces:
                raise AblyError(401, 40105, "Nonce value replayed")
            self._nonces.add(nonce)

    def _granted_capability(self, raw) -> dict:
        if not raw:
            return self.key_capability
        requested = parse_capability(raw)
        for resource, ops in requested.items():
            for op in ops:
                if not capability_allows(self.key_capability, resource, op):
                    raise AblyError(401, 40160, f"Capability {op} on {resource!r} not permitted")
        return requested

    # -- channels --------------------------------------------------------------------------

    def _publish(self, channel: str, request: Request) -> Reply:
        with self._cond:
            self._publish_requests += 1
        self._apply_faults()
        grant = self._authenticate(request)
        self._require(grant, channel, "publish")
        if len(request.body) > MAX_PUBLISH_BYTES:
            raise AblyError(400, 40009, "Maximum size of messages that can be published at once "
                                        f"exceeded (limit is {MAX_PUBLISH_BYTES} bytes)")
        messages = self._parse_messages(request.payload(), grant)
        self._channel_fault(channel)
        serials = self._record(channel, messages)
        self._after_accept()
        return Reply(201, {"channel": channel, "messageId": messages[0].get("id"),
                           "serials": serials})

    def _apply_faults(self) -> None:
        with self._cond:
            failure, hang, delay, wake = self._failure, self._hang, self._delay, self._wake
            if failure is not None and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._failure, self._failures_left = None, None
        if hang is not None:
            wake.wait(hang)  # recover() or stop() cut this short
            raise AblyError(504, 50003, "FakeAbly: simulated hang (timed out)")
        if failure is not None:
            raise failure
        if delay:
            time.sleep(delay)

    @staticmethod
    def _parse_messages(payload, grant: Grant) -> list[dict]:
        messages = payload if isinstance(payload, list) else [payload]
        if not messages or not all(isinstance(message, dict) for message in messages):
            raise AblyError(400, 40000, "Expected a message object or an array of them")
        for message in messages:
            _check_message(message, grant)
        _check_ids_of_multi_message_publish(messages)
        return messages

    def _after_accept(self) -> None:
        with self._cond:
            hold, wake = self._hold_acks, self._wake
        if hold is not None:
            wake.wait(hold)
            raise AblyError(504, 50003, "FakeAbly: simulated lost answer (timed out)")

    def _channel_fault(self, channel: str) -> None:
        with self._cond:
            entry = self._channel_failures.get(channel)
            if entry is None:
                return
            error, times = entry
            if times is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del self._channel_failures[channel]
        raise error

    def _record(self, channel: str, messages: list[dict]) -> list[str]:
        """Store messages; an id accepted less than `dedup_window` seconds ago is acked only.

        Like Ably, de-duplication is limited in time: the same id later is a new message.
        """
        base_id = secrets.token_urlsafe(9)
        serials = []
        with self._cond:
            stored = self._messages.setdefault(channel, [])
            seen = self._seen_ids.setdefault(channel, {})
            now = time.monotonic()
            for index, message in enumerate(messages):
                message_id = message.get("id") or f"{base_id}:{index}"
                known = seen.get(message_id)
                if known is None or now - known[1] >= self.dedup_window:
                    stored.append(self._stamp(message, message_id))
                    seen[message_id] = (stored[-1]["serial"], now)
                else:  # idempotent publishing: ack, don't record twice
                    self._duplicates += 1
                serials.append(seen[message_id][0])
            self._cond.notify_all()
        return serials

    # -- batch publish (POST /messages) ----------------------------------------------------

    def _batch_publish(self, request: Request) -> Reply:
        """Ably's batch publish: one result per spec; any failure makes it a 400/40020."""
        with self._cond:
            self._publish_requests += 1
            self._batch_requests += 1
        self._apply_faults()
        grant = self._authenticate(request)
        if len(request.body) > MAX_BATCH_BYTES:
            raise AblyError(400, 40009, f"Batch request too large (limit {MAX_BATCH_BYTES})")
        specs = _batch_specs(request.payload())
        results = [self._publish_spec(spec, grant) for spec in specs]
        self._after_accept()
        if all(result["failureCount"] == 0 for result in results):
            return Reply(201, results)
        error = AblyError(400, 40020, "Batched response includes errors")
        return Reply(400, {**error.body(), "batchResponse": results},
                     {"X-Ably-Errorcode": "40020"})

    def _publish_spec(self, spec: dict, grant: Grant) -> dict:
        results = []
        for channel in spec["channels"]:
            try:
                self._require(grant, channel, "publish")
                messages = [dict(message) for message in spec["messages"]]
                for message in messages:
                    _check_message(message, grant)
                # As for a channel publish, the limit bounds the spec's messages together.
                if len(msgpack.packb(messages, use_bin_type=True)) > MAX_PUBLISH_BYTES:
                    raise AblyError(400, 40009, "Maximum size of messages that can be "
                                    f"published at once exceeded (limit {MAX_PUBLISH_BYTES})")
                _check_ids_of_multi_message_publish(messages)
                self._channel_fault(channel)
                serials = self._record(channel, messages)
                results.append({"channel": channel, "messageId": messages[0].get("id"),
                                "serials": serials})
            except AblyError as error:
                results.append({"channel": channel, "error": error.body()["error"]})
        failures = sum(1 for result in results if "error" in result)
        return {"successCount": len(results) - failures, "failureCount": failures,
                "results": results}

    def _stamp(self, message: dict, message_id: str) -> dict:
        self._serial += 1
        return {**message, "id": message_id, "timestamp": message.get("timestamp") or now_ms(),
                "serial": f"{self._serial:016d}@fakeably"}

    def _history(self, channel: str, request: Request) -> Reply:
        self._require(self._authenticate(request), channel, "history")
        limit, direction, offset, start, end = _history_params(request.query)
        with self._cond:
            messages = list(self._messages.get(channel, []))
        messages = [m for m in messages if start <= m["timestamp"] <= end]
        if direction == "backwards":
            messages.reverse()
        page = messages[offset:offset + limit]
        headers = {}
        if offset + limit < len(messages):
            query = urlencode({**request.query, "offset": offset + limit})
            headers["Link"] = f'<./messages?{query}>; rel="next"'
        return Reply(200, [_wire_message(m, request.binary_reply) for m in page], headers)


def _batch_specs(payload) -> list[dict]:
    """Normalise BatchSpecs ({channels, messages}, each one or a list); 400 if malformed."""
    specs = payload if isinstance(payload, list) else [payload]
    normalised = []
    for spec in specs:
        channels = spec.get("channels") if isinstance(spec, dict) else None
        messages = spec.get("messages") if isinstance(spec, dict) else None
        channels = [channels] if isinstance(channels, str) else channels
        messages = [messages] if isinstance(messages, dict) else messages
        if not (channels and isinstance(channels, list)
                and all(isinstance(name, str) and name for name in channels)
                and messages and isinstance(messages, list)
                and all(isinstance(message, dict) for message in messages)):
            raise AblyError(400, 40000, "Each batch spec needs channels and messages")
        normalised.append({"channels": channels, "messages": messages})
    if not normalised:
        raise AblyError(400, 40000, "Empty batch")
    return normalised


def _check_ids_of_multi_message_publish(messages: list[dict]) -> None:
    """Ably: messages published together with client ids need ids `<base>:<index>`."""
    ids = [message.get("id") for message in messages]
    if len(messages) < 2 or not any(ids):
        return
    base = str(ids[0]).rpartition(":")[0]
    if not base or ids != [f"{base}:{index}" for index in range(len(ids))]:
        raise AblyError(400, 40031, "Client-specified message ids do not match the required "
                                    "format for multi-message ProtocolMessages")


def _check_message(message: dict, grant: Grant) -> None:
    for name in ("id", "name", "clientId", "encoding"):
        if message.get(name) is not None and not isinstance(message[name], str):
            raise AblyError(400, 40000, f"Message {name} must be a string")
    client_id = message.get("clientId")
    if client_id and grant.client_id not in (None, "*", client_id):
        raise AblyError(401, 40012, f"Mismatched clientId {client_id!r}")
    if not client_id and grant.client_id not in (None, "*"):
        message["clientId"] = grant.client_id  # Ably stamps the token's identity


def _history_params(query: dict) -> tuple[int, str, int, int, int]:
    """limit, direction, offset (our own paging cursor), start and end (ms, inclusive)."""
    try:
        limit, offset = int(query.get("limit", 100)), int(query.get("offset", 0))
        start, end = int(query.get("start", 0)), int(query.get("end", 2**63))
    except ValueError:
        raise AblyError(400, 40003, "limit, offset, start and end must be integers") from None
    direction = query.get("direction", "backwards")
    if not 1 <= limit <= 1000 or offset < 0 or direction not in ("backwards", "forwards"):
        raise AblyError(400, 40003, "Invalid limit, offset or direction")
    return limit, direction, offset, start, end


def _wire_message(message: dict, binary: bool) -> dict:
    data, encoding = message.get("data"), message.get("encoding")
    if not binary and isinstance(data, bytes):
        # JSON cannot carry bytes; Ably base64-encodes them and says so in the encoding.
        data = base64.b64encode(data).decode()
        encoding = f"{encoding}/base64" if encoding else "base64"
    wire = {**message, "data": data, "encoding": encoding}
    return {name: value for name, value in wire.items() if value is not None}


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # hung handlers must not block stop()/refuse()
    request_queue_size = 128  # the default backlog of 5 drops connections under benchmark load
    fake: FakeAbly


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive socket survives refuse().
    protocol_version = "HTTP/1.0"
    server_version = "FakeAbly/1.0"

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self):
        request = self._read_request()
        try:
            reply = self.server.fake.handle(request)
        except Exception:
            log.exception("FakeAbly failed on %s %s", request.method, request.path)
            reply = Reply(500, AblyError(500, 50000, "FakeAbly internal error").body())
        self._send(reply, request.binary_reply)

    def _read_request(self) -> Request:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(self.command, url.path, query, headers, body)

    def _send(self, reply: Reply, binary: bool) -> None:
        if binary:
            content_type, body = MSGPACK, msgpack.packb(reply.payload, use_bin_type=True)
        else:
            content_type, body = JSON, json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            for name, value in {**reply.headers, "Content-Type": content_type}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out on a hung publish)

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)


class _KeepAliveHandler(_Handler):
    # Every reply carries Content-Length, so a connection can serve request after request.
    protocol_version = "HTTP/1.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Ably REST server in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    parser.add_argument("--key", default=DEFAULT_KEY, help="API key 'appid.keyid:secret'")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before publishes answer")
    parser.add_argument("--fail-with", type=int, metavar="STATUS", help="fail every publish")
    parser.add_argument("--keep-alive", action="store_true",
                        help="HTTP/1.1 keep-alive, as Ably's servers (default: HTTP/1.0)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    server = FakeAbly(port=args.port, host=args.host, key=args.key,
                      keep_alive=args.keep_alive).start()
    if args.delay:
        server.delay(args.delay)
    if args.fail_with:
        server.fail_with(args.fail_with)
    # Machine-readable lines first, so a benchmark script can read the port and key.
    print(f"FAKEABLY_URL={server.url}\nFAKEABLY_PORT={server.port}\nFAKEABLY_KEY={server.key}",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
