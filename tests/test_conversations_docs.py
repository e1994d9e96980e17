"""OpenAPI for the conversation routes: comments, tags, and the new ticket fields."""

import pytest

COMMENTS = "/api/tickets/{ticket_id}/comments"
OPERATIONS = {
    (COMMENTS, "get"): {"200", "401", "403", "404", "422", "503"},
    # 409: the same Idempotency-Key while its first request still runs.
    (COMMENTS, "post"): {"201", "400", "401", "403", "404", "409", "413", "422", "503"},
    (COMMENTS + "/{comment_id}", "get"): {"200", "401", "403", "404", "503"},
    (COMMENTS + "/{comment_id}", "patch"): {"200", "400", "401", "403", "404", "409", "413",
                                            "422", "503"},
    (COMMENTS + "/{comment_id}", "delete"): {"200", "401", "403", "404", "409", "503"},
    ("/api/tickets/{ticket_id}/tags", "post"): {"200", "400", "401", "403", "404", "413", "422",
                                                "503"},
    ("/api/tickets/{ticket_id}/tags/{tag}", "delete"): {"200", "401", "403", "404", "503"},
    ("/api/tags", "get"): {"200", "401", "403", "422", "503"},
}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_conversation_routes_are_documented_with_their_errors(spec, path, method):
    operation = spec["paths"][path][method]
    assert operation["summary"]
    assert "Roles allowed:" in operation["description"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert set(operation["responses"]) - {"default"} == OPERATIONS[(path, method)]


def test_ticket_list_documents_the_conversation_filters(spec):
    parameters = {p["name"]: p for p in spec["paths"]["/api/tickets"]["get"]["parameters"]}
    assert {"requester_email", "tags", "tags_any", "has_public_reply"} <= set(parameters)
    assert "last_activity_at" in parameters["sort"]["description"]
    comment_filters = {p["name"] for p in spec["paths"][COMMENTS]["get"]["parameters"]}
    assert {"public", "cursor", "per_page", "page"} <= comment_filters


def test_ticket_and_comment_schemas(spec):
    schemas = spec["components"]["schemas"]
    assert {"requester", "tags", "comments_count", "last_activity_at",
            "first_response_at"} <= set(schemas["Ticket"]["properties"])
    assert {"author", "body", "public", "deleted", "edited_at", "edited_by", "deleted_at",
            "deleted_by"} <= set(schemas["Comment"]["properties"])
    assert "comment" in schemas["Event"]["properties"]
