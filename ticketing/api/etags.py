"""ETags from a resource's id and version: conditional reads (304) and writes (412, 428).

Two agents editing one ticket send the ETag of what they read as `If-Match`; the second to
write gets 412 with the current version instead of silently overwriting the first.
"""

from http import HTTPStatus

from flask import Response, current_app, request
from werkzeug.http import parse_etags

from ..errors import PreconditionFailed, PreconditionRequired

ETAG_HEADER = {"description": "The resource's id and version; send it back in If-Match",
               "schema": {"type": "string"}}
IF_MATCH = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": "ETag of the version you read: the write happens only if it is still "
                   "current (412 otherwise). Required when the server sets REQUIRE_IF_MATCH.",
}
IF_NONE_MATCH = {
    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
    "description": "ETag you hold: 304 Not Modified, without a body, while it is current",
}


def etag_value(resource) -> str:
    return f"{resource.id}.{resource.version}"


def etag_header(resource) -> dict:
    return {"ETag": f'"{etag_value(resource)}"'}


def not_modified(resource) -> Response | None:
    """A 304 when the client's If-None-Match already names this version."""
    if is_current(request.headers.get("If-None-Match"), resource):
        return Response(status=304, headers=etag_header(resource))
    return None


def is_current(if_none_match: str | None, resource) -> bool:
    """Whether an If-None-Match header names this version (weakly, as RFC 9110 compares it)."""
    if if_none_match is None:  # most reads: no header to parse
        return False
    return parse_etags(if_none_match).contains_weak(etag_value(resource))


def check_if_match(resource, label: str) -> None:
    """Refuse a write based on an outdated read (the request's If-Match); call with the row
    locked."""
    require_match(resource, label, request.headers.get("If-Match"),
                  current_app.config["REQUIRE_IF_MATCH"])


def require_match(resource, label: str, if_match: str | None, required: bool) -> None:
    """check_if_match for an If-Match header's value (None: no header), also outside Flask.

    RFC 9110 compares If-Match strongly: weak tags (W/"...") never match.
    """
    if if_match is None:
        if required:
            raise PreconditionRequired(
                f"Send If-Match with the ETag of the {label.lower()} you read",
                {"If-Match": ["Required for writes on this server."]})
        return
    if parse_etags(if_match).contains(etag_value(resource)):  # also true for "*"
        return
    raise PreconditionFailed(
        f"{label} has changed since you read it: it is now at version {resource.version}",
        {"If-Match": [f"Does not match the current version {resource.version}."]},
        headers=etag_header(resource))


def documents_conditional_read(blp):
    """Document If-None-Match, the ETag header and 304 on a GET."""

    def decorate(view):
        view = blp.alt_response(304, description="Not modified: your copy is current")(view)
        return blp.doc(parameters=[IF_NONE_MATCH],
                       responses={200: {"headers": {"ETag": ETAG_HEADER}}})(view)

    return decorate


def documents_conditional_write(blp, returns_etag: bool = True):
    """Document If-Match and its 412 and 428 answers on a PATCH or DELETE."""

    def decorate(view):
        for status in (412, 428):
            view = blp.alt_response(status, response=HTTPStatus(status).name)(view)
        doc = {"parameters": [IF_MATCH]}
        if returns_etag:
            doc["responses"] = {200: {"headers": {"ETag": ETAG_HEADER}}}
        return blp.doc(**doc)(view)

    return decorate
