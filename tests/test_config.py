"""Configuration parsing."""

import pytest

from ticketing.config import Config, normalize_database_url


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db.example.supabase.co:5432/postgres?sslmode=require",
     "postgresql+psycopg2://u:p@db.example.supabase.co:5432/postgres?sslmode=require"),
    ("postgresql://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("", None),
    (None, None),
])
def test_database_url_forms(given, expected):
    assert normalize_database_url(given) == expected


def test_environment_is_read(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://x@y/z")
    monkeypatch.setenv("API_PREFIX", "/v2/")
    monkeypatch.setenv("ABLY_TLS", "false")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2048")
    config = Config()
    assert config.DATABASE_URL == "postgresql+psycopg2://x@y/z"
    assert config.API_PREFIX == "v2"
    assert config.ABLY_TLS is False
    assert config.MAX_CONTENT_LENGTH == 2048


def test_api_prefix_is_applied(database_url):
    from ticketing import create_app

    from .conftest import TestConfig

    app = create_app(TestConfig(database_url, API_PREFIX="v1"))
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert "/v1/tickets" in rules and "/api/tickets" not in rules


@pytest.mark.parametrize("name, value", [("REALTIME_RELAY", "threads"),
                                         ("DB_POOLER_MODE", "statement"),
                                         ("LOG_FORMAT", "xml")])
def test_a_misspelt_choice_stops_the_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Config()


def test_cors_allows_configured_origins_only(database_url):
    from ticketing import create_app

    from .conftest import TestConfig

    app = create_app(TestConfig(database_url, CORS_ORIGINS=["https://desk.example.com"]))
    client = app.test_client()
    preflight = client.options("/api/tickets", headers={
        "Origin": "https://desk.example.com", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://desk.example.com"
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    response = client.get("/healthz", headers={"Origin": "https://desk.example.com"})
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    other = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    plain = create_app(TestConfig(database_url)).test_client()
    assert "Access-Control-Allow-Origin" not in plain.get(
        "/healthz", headers={"Origin": "https://desk.example.com"}).headers
