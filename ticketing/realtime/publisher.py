"""Send event messages to Ably, or to the log when Ably is not configured."""

import json
import logging

import httpx
from ably.sync import AblyException, AblyRestSync
from ably.sync.types.message import Message

log = logging.getLogger(__name__)

# Ably's default limit is 64 KiB for one message (and for one publish request).
MAX_MESSAGE_BYTES = 60_000
# Fields fit_message drops from an oversized message (a ticket's description, a comment's body).
LONG_TEXTS = ("description", "body")


class PublishError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


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


def encoded_size(data: dict) -> int:
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


class AblyPublisher:
    def __init__(self, config) -> None:
        connections = config.get("REALTIME_PUBLISH_CONCURRENCY", 16) + 2
        self.client = over_http1(AblyRestSync(**ably_options(config)), connections)

    def publish(self, channel: str, messages: list[dict]) -> None:
        """Publish `messages` ({id, name, data}) in one request; raise PublishError on failure."""
        batch = [Message(name=m["name"], data=m["data"], id=m["id"]) for m in messages]
        try:
            self.client.channels.get(channel).publish(messages=batch)
        except AblyException as error:
            status = getattr(error, "status_code", None) or 500
            raise PublishError(f"Ably {status}/{getattr(error, 'code', '')}: {error}",
                               retryable=status not in (400, 413, 422)) from error
        except httpx.HTTPError as error:
            raise PublishError(f"{error.__class__.__name__}: {error}") from error

    def token_request(self, capability: dict, ttl_seconds: int, client_id: str) -> dict:
        request = self.client.auth.create_token_request(token_params={
            "capability": capability, "ttl": ttl_seconds * 1000, "client_id": client_id})
        return request.to_dict()

    def close(self) -> None:
        self.client.close()


class LogPublisher:
    """Used without ABLY_API_KEY: events are recorded and readable, publication is logged."""

    def publish(self, channel: str, messages: list[dict]) -> None:
        for message in messages:
            log.info("realtime disabled (no ABLY_API_KEY): %s %s on %s",
                     message["name"], message["id"], channel)

    def close(self) -> None:
        pass


def make_publisher(config):
    return AblyPublisher(config) if config["ABLY_API_KEY"] else LogPublisher()
