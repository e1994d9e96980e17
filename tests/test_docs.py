"""OpenAPI document and the offline Swagger UI."""

import pytest


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


OPERATIONS = {
    ("/api/tickets", "get"): {"200", "422"},
    ("/api/tickets", "post"): {"201", "400", "413", "422"},
    ("/api/tickets/{ticket_id}", "get"): {"200", "404"},
    ("/api/tickets/{ticket_id}", "patch"): {"200", "400", "404", "422"},
    ("/api/tickets/{ticket_id}", "delete"): {"200", "404"},
    ("/api/agents", "get"): {"200", "422"},
    ("/api/agents", "post"): {"201", "409", "422"},
    ("/api/agents/{agent_id}", "get"): {"200", "404"},
    ("/api/agents/{agent_id}", "patch"): {"200", "404", "409", "422"},
    ("/api/agents/{agent_id}", "delete"): {"200", "404"},
}


def test_every_operation_has_summary_and_documented_errors(spec):
    assert spec["openapi"].startswith("3.")
    for (path, method), statuses in OPERATIONS.items():
        operation = spec["paths"][path][method]
        assert operation["summary"], (path, method)
        assert statuses <= set(operation["responses"]), (path, method)


def test_list_documents_its_query_parameters(spec):
    names = {p["name"] for p in spec["paths"]["/api/tickets"]["get"]["parameters"]}
    assert {"status", "priority", "assigned_to", "q", "created_after", "created_before", "sort",
            "page", "per_page", "cursor"} <= names


def test_responses_are_documented_in_the_envelope(spec):
    schemas = spec["components"]["schemas"]
    created = spec["paths"]["/api/tickets"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[ref]["properties"]) == {"status", "message", "data"}
    error = schemas["Error"]["properties"]
    assert set(error) == {"status", "message", "errors"}


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "//cdn" not in html and "unpkg" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        response = client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert "max-age" in response.headers["Cache-Control"]
        response.close()
