"""Send event messages to Ably through its batch endpoint, or to the log without a key.

One `POST /messages` carries several batch specs (see realtime/batching.py); Ably publishes
each spec to its channel as one multi-message publish, taken or refused as a whole, and
answers per spec (HTTP 400 with code 40020 and `batchResponse` when some were refused).
"""

import json
import logging

import httpx
from ably.sync import AblyException, AblyRestSync

log = logging.getLogger(__name__)

# Ably's default limit is 64 KiB for one message.
MAX_MESSAGE_BYTES = 60_000
# Fields fit_message drops from an oversized message (a ticket's description, a comment's body).
LONG_TEXTS = ("description", "body")
# Ably's 64 KiB also bounds all messages of one publish together, and a batch spec is one
# publish: a spec past it is refused whole, for good (40009).
MAX_SPEC_BYTES = MAX_MESSAGE_BYTES
# Batch requests are kept well below Ably's request limits.
MAX_REQUEST_MESSAGES = 100
MAX_REQUEST_BYTES = 512 * 1024
# The REST protocol version sent with batch requests (that of ably-python 3.x).
ABLY_PROTOCOL_VERSION = "2"
TOKEN_ERRORS = range(40140, 40150)  # expired or unknown token: re-authorise and retry once


class PublishError(Exception):
    """Ably did not take a message; `retryable` says whether sending it again may help."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None,
                 code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable, self.status, self.code = retryable, status, code
        self.retry_after = retry_after

    @property
    def config_error(self) -> bool:
        """The key or its capabilities refuse the publish: someone must fix the settings."""
        return is_config_error(self.code or self.status)


# Ably answers a key that may not publish with 401/403 and codes 401xx-403xx (40160:
# capability); an expired token (4014x) is renewed, not a misconfiguration.
CONFIG_STATUSES = (401, 403)
CONFIG_CODES = range(40100, 40400)


def is_config_error(code_or_status: int | None) -> bool:
    """One rule for the relay's logs and for /readyz (see status.config_error)."""
    return code_or_status in CONFIG_STATUSES or (
        code_or_status in CONFIG_CODES and code_or_status not in TOKEN_ERRORS)


def ably_error(status: int, code, message: str, retry_after: float | None = None) -> PublishError:
    """Classify one Ably error: a malformed or oversized message will never be taken."""
    code = int(code) if str(code or "").isdigit() else None
    refused_for_good = status in (400, 413, 422) or (code is not None and 40000 <= code < 40100)
    return PublishError(f"Ably {status}/{code or ''}: {message}", retryable=not refused_for_good,
                        status=status, code=code, retry_after=retry_after)


def as_publish_error(error: Exception) -> PublishError:
    """Anything a publish raised, as a PublishError (unknown trouble is worth a retry)."""
    if isinstance(error, PublishError):
        return error
    if isinstance(error, AblyException):
        return ably_error(getattr(error, "status_code", None) or 500, getattr(error, "code", None),
                          str(error))
    return PublishError(f"{error.__class__.__name__}: {error}")


def ably_options(config) -> dict:
    """AblyRestSync options from the app config; a custom endpoint gets no fallback hosts."""
    timeout = config["ABLY_TIMEOUT"]
    options = {"key": config["ABLY_API_KEY"], "http_request_timeout": timeout,
               "http_open_timeout": timeout}
    if config["ABLY_ENDPOINT"]:
        options.update(endpoint=config["ABLY_ENDPOINT"], tls=config["ABLY_TLS"],
                       fallback_hosts=[], http_max_retry_count=1)
        if config["ABLY_PORT"]:
            options["tls_port" if config["ABLY_TLS"] else "port"] = config["ABLY_PORT"]
    if not config["ABLY_TLS"]:
        # The SDK refuses to send the key over plain HTTP; it signs token requests instead.
        options["use_token_auth"] = True
    return options


def encoded_size(data) -> int:
    return len(json.dumps(data, separators=(",", ":")).encode())


def fit_message(data: dict) -> dict:
    """Drop long texts from an oversized message; the feed and the API still have them."""
    if encoded_size(data) <= MAX_MESSAGE_BYTES:
        return data
    data = {**data, "truncated": True}
    data["changes"] = {field: change for field, change in data.get("changes", {}).items()
                       if field not in LONG_TEXTS}
    for key in ("ticket", "agent", "comment"):
        if isinstance(data.get(key), dict):
            data[key] = {**data[key], **{f: None for f in LONG_TEXTS if f in data[key]}}
    return data


def over_http1(client: AblyRestSync, connections: int) -> AblyRestSync:
    """Make the SDK speak HTTP/1.1, so one client can serve several sending threads.

    The SDK opens its httpx client with HTTP/2, and httpcore's synchronous HTTP/2 is not safe
    to share between threads (encode/httpx#3002: out-of-order stream ids, broken
    connections). Over HTTP/1.1 each request in flight gets a pooled connection of its own.
    """
    http = client.http
    attribute = next((name for name in vars(http) if name.endswith("__client")), None)
    if attribute is None:
        raise RuntimeError("ably SDK internals changed: cannot switch it to HTTP/1.1")
    getattr(http, attribute).close()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    setattr(http, attribute, httpx.Client(http2=False, limits=limits))
    return client


def wire_message(message: dict) -> dict:
    """A message as Ably's REST API takes it: JSON data travels as a string, so marked."""
    return {"id": message["id"], "name": message["name"], "encoding": "json",
            "data": json.dumps(message["data"], separators=(",", ":"))}


def spec_outcome(result) -> PublishError | None:
    """One batch spec's result (protocol 1 flat or protocol 2 `results`): None when taken."""
    if isinstance(result, dict) and isinstance(result.get("results"), list):
        result = next((item for item in result["results"] if item.get("error")), {})
    error = result.get("error") if isinstance(result, dict) else {"message": "no result"}
    if not error:
        return None
    return ably_error(error.get("statusCode") or 500, error.get("code"),
                      error.get("message") or "refused")


class AblyPublisher:
    def __init__(self, config) -> None:
        connections = config.get("REALTIME_PUBLISH_CONCURRENCY", 8) + 2
        self.client = over_http1(AblyRestSync(**ably_options(config)), connections)

    def publish(self, specs: list[dict]) -> list[PublishError | None]:
        """Publish `specs` ({channel, messages: [{id, name, data}]}) in one batch request.

        Returns one outcome per spec, in order (None: Ably took it). Raises PublishError
        when the whole request failed.
        """
        body = [{"channels": [spec["channel"]],
                 "messages": [wire_message(m) for m in spec["messages"]]} for spec in specs]
        try:
            response = self._post(body)
            if response.status_code == 401 and _error_code(response) in TOKEN_ERRORS:
                self.client.auth.authorize()
                response = self._post(body)
        except AblyException as error:
            raise as_publish_error(error) from error
        except httpx.HTTPError as error:
            raise PublishError(f"{error.__class__.__name__}: {error}") from error
        return self._outcomes(response, len(specs))

    def _post(self, body: list[dict]):
        return self.client.request("POST", "/messages", ABLY_PROTOCOL_VERSION, body=body)

    @staticmethod
    def _outcomes(response, count: int) -> list[PublishError | None]:
        items = response.items
        if response.success:
            results = items
        else:
            error = items[0] if items and isinstance(items[0], dict) else {}
            results = error.get("batchResponse")
            if _error_code(response) != 40020 or not isinstance(results, list):
                raise _request_error(response, error)
        if not isinstance(results, list) or len(results) != count:
            raise PublishError(f"Ably answered {len(results or [])} batch results for {count}")
        return [spec_outcome(result) for result in results]

    def token_request(self, capability: dict, ttl_seconds: int, client_id: str) -> dict:
        request = self.client.auth.create_token_request(token_params={
            "capability": capability, "ttl": ttl_seconds * 1000, "client_id": client_id})
        return request.to_dict()

    def close(self) -> None:
        self.client.close()


def _headers(response) -> dict:
    return {name.lower(): value for name, value in response.headers}


def _error_code(response) -> int | None:
    code = _headers(response).get("x-ably-errorcode", "")
    return int(code) if code.isdigit() else None


def _retry_after(response) -> float | None:
    value = _headers(response).get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _request_error(response, body: dict) -> PublishError:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return ably_error(response.status_code, error.get("code") or _error_code(response),
                      error.get("message") or response.error_message or "request failed",
                      _retry_after(response))


class LogPublisher:
    """Used without ABLY_API_KEY: events are recorded and readable (history, feed), and each
    publication is logged at debug level (LOG_LEVEL=debug shows them; at info, a line per event
    would double a write's log volume for nothing a reader of the feed lacks)."""

    def publish(self, specs: list[dict]) -> list[PublishError | None]:
        for spec in specs:
            for message in spec["messages"]:
                log.debug("realtime disabled (no ABLY_API_KEY): %s %s on %s",
                         message["name"], message["id"], spec["channel"])
        return [None] * len(specs)

    def close(self) -> None:
        pass


def make_publisher(config):
    return AblyPublisher(config) if config["ABLY_API_KEY"] else LogPublisher()
