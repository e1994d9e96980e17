"""The `@idempotent` view decorator: claim the key, run the view once, replay its answer."""

import functools
import hashlib
import json
import logging
import time
from copy import deepcopy
from datetime import timedelta

from flask import Response, current_app, make_response, request

from ..auth import current_actor
from ..db import db
from ..errors import Conflict, Unprocessable
from . import store
from .sealing import key_digest, seal, unseal

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Headers a replay repeats (the body and status are always kept).
KEPT_HEADERS = ("Location", "ETag", "Cache-Control")
# Each process deletes one batch of expired keys at most this often, after a stored answer;
# `flask idempotency purge` empties the backlog at once.
PURGE_EVERY_SECONDS = 600

HEADER_DOC = {
    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
               # Printable ASCII; HTTP drops white space around a header value.
               "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"},
    "description": "A unique value (a UUID) per intended change. A retry with the same key and "
                   "body gets the first answer again, with `Idempotent-Replayed: true`, and "
                   "creates nothing; kept IDEMPOTENCY_TTL_HOURS (24 by default).",
}
REPLAYED_DOC = {"description": "`true` when the answer is the one given to an earlier request "
                               "with the same Idempotency-Key", "schema": {"type": "string"}}

_last_purge = {"at": time.monotonic()}


def caller_scope() -> str:
    """Whose keys these are: the credential that sent the request (an anonymous caller's
    scope, under AUTH_ANONYMOUS_ROLE, is its address)."""
    return current_actor().scope


def fingerprint() -> str:
    """Method, path and body; JSON bodies compared by content, not spacing or key order."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        body = raw
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _valid_key(key: str) -> str:
    key = key.strip(" \t")
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise Unprocessable("Invalid Idempotency-Key", {IDEMPOTENCY_HEADER: [
            f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."]})
    return key


def _replay(existing, scope: str, key: str) -> Response:
    headers = {**(existing.headers or {}), REPLAYED_HEADER: "true"}
    return Response(unseal(scope, key, existing.body), status=existing.status, headers=headers,
                    mimetype="application/json")


def _refusal(existing, fingerprint_now: str):
    if existing.fingerprint != fingerprint_now:
        return Unprocessable(
            "This Idempotency-Key was already used for a different request",
            {IDEMPOTENCY_HEADER: ["Use a new key for a new request; retry with the same body."]})
    return Conflict("A request with this Idempotency-Key is still in progress; retry shortly",
                    {IDEMPOTENCY_HEADER: ["In progress."]}, headers={"Retry-After": "1"})


def _keep(scope: str, key: str, response: Response) -> None:
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    body = seal(scope, key, response.get_data(as_text=True))
    store.complete(db.session, scope, key_digest(scope, key), response.status_code, body,
                   headers)
    if time.monotonic() - _last_purge["at"] > PURGE_EVERY_SECONDS:
        _last_purge["at"] = time.monotonic()
        store.purge_expired(db.session, max_batches=1)


def _run_once(view, args, kwargs, scope: str, key: str) -> Response:
    try:
        response = make_response(view(*args, **kwargs))
    except BaseException:
        store.release(db.session, scope, key_digest(scope, key))
        raise
    if 200 <= response.status_code < 300:
        _keep(scope, key, response)
    else:  # nothing was created: let a retry run again
        store.release(db.session, scope, key_digest(scope, key))
    return response


def idempotent(view):
    """Honour Idempotency-Key on a view that creates something (see the package docstring)."""

    @functools.wraps(view)
    def run(*args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return view(*args, **kwargs)
        scope, key, print_ = caller_scope(), _valid_key(key), fingerprint()
        ttl = timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
        claim = store.claim(db.session, scope, key_digest(scope, key), print_, ttl)
        if claim.ours:
            return _run_once(view, args, kwargs, scope, key)
        if claim.existing.status is not None and claim.existing.fingerprint == print_:
            return _replay(claim.existing, scope, key)
        raise _refusal(claim.existing, print_)

    _document(run)
    return run


def _document(view) -> None:
    """Add the header, Idempotent-Replayed and the 409 to the view's OpenAPI entry."""
    apidoc = view._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    if not responses.get(409):
        responses[409] = ["CONFLICT"]  # flask-smorest's shared error response
    manual = apidoc.setdefault("manual_doc", {})
    manual.setdefault("parameters", []).append(HEADER_DOC)
    for status in apidoc.get("success_status_codes", []):
        # An int key, like flask-smorest's own, so that the two are merged.
        manual.setdefault("responses", {})[int(status)] = {
            "headers": {REPLAYED_HEADER: REPLAYED_DOC}}
