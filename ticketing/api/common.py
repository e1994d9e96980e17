"""What the resource views share: the success envelope and documented error responses."""

from typing import Any


def ok(message: str, data: Any = None) -> dict:
    body = {"status": True, "message": message}
    if data is not None:
        body["data"] = data
    return body


def page(message: str, records: list, pagination: dict) -> dict:
    return ok(message, {"records": records, "pagination": pagination})


def documents_errors(blp, *statuses: int):
    """Add the envelope-shaped error responses a view can return to its OpenAPI entry."""
    names = {400: "BAD_REQUEST", 404: "NOT_FOUND", 409: "CONFLICT", 413: "REQUEST_ENTITY_TOO_LARGE",
             422: "UNPROCESSABLE_ENTITY", 503: "SERVICE_UNAVAILABLE"}

    def decorate(view):
        for status in statuses:
            view = blp.alt_response(status, response=names[status])(view)
        return view

    return decorate
