"""What a new user meets first: make clean, plain `flask`, wsgi.py, start-up lines, logs."""

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .serving import Gunicorn, wait_until

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).with_name("flask"))


def clean_env(**overrides) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FLASK_APP", "DATABASE_URL", "PROXY_HOPS")}
    return {**env, **overrides}


def test_make_clean_removes_everything_and_can_run_twice(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = [".pgdata/base", ".prometheus/8000", "ticketing.egg-info", ".pytest_cache",
            ".ruff_cache", "build", "dist"]
    for folder in made:
        (tmp_path / folder).mkdir(parents=True)
    for file in (".pgdata.port", ".pgdata.lock", ".dev-api-key", ".prometheus/8000/c.db"):
        (tmp_path / file).write_text("x")
    for _ in range(2):
        result = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["Makefile"]


def test_plain_flask_in_the_project_folder_finds_the_app(app, database_url):
    result = subprocess.run([FLASK, "db", "current"], cwd=ROOT, capture_output=True, text=True,
                            env=clean_env(DATABASE_URL=database_url, LOG_LEVEL="warning"))
    assert result.returncode == 0, result.stderr
    assert "(head)" in result.stdout


@pytest.mark.parametrize("database_url, expected", [
    (None, "ticketing: DATABASE_URL is not set: export it"),
    ("postgresql://postgres@127.0.0.1:9/nowhere",
     'Error: database error: connection to server at "127.0.0.1", port 9 failed'),
])
def test_cli_errors_are_one_line(database_url, expected):
    env = clean_env(**({"DATABASE_URL": database_url} if database_url else {}))
    result = subprocess.run([FLASK, "db", "current"], cwd=ROOT, capture_output=True, text=True,
                            env=env)
    assert result.returncode != 0
    assert result.stderr.startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture
def wsgi_module(monkeypatch, database_url):
    def load(**env):
        monkeypatch.delenv("PROXY_HOPS", raising=False)
        for key, value in {"DATABASE_URL": database_url, "REALTIME_RELAY": "thread",
                           "LOG_FORMAT": "text", **env}.items():
            monkeypatch.setenv(key, value)
        module = importlib.reload(importlib.import_module("wsgi"))
        made.append(module.app)
        return module

    made = []
    yield load
    for app in made:
        app.extensions["realtime"].stop()
        app.extensions["db"].dispose()


def test_importing_wsgi_starts_no_relay(wsgi_module):
    """What `flask <command>` loads: commands must not run a relay beside them."""
    state = wsgi_module().app.extensions["realtime"]
    assert state.mode == "thread" and state._thread is None


@pytest.mark.parametrize("hops, expected_host", [(None, "localhost"), ("1", "evil.example")])
def test_proxy_headers_are_trusted_only_when_the_deployment_says(wsgi_module, connection, hops,
                                                                 expected_host):
    app = wsgi_module(**({"PROXY_HOPS": hops} if hops else {})).app
    app.extensions["db"].bind(connection)
    response = app.test_client().post("/api/tickets", json={"title": "t", "description": "d"},
                                      headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"http://{expected_host}/api/tickets/")


def test_metrics_content_type_has_one_charset(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1, content_type


@pytest.mark.slow
def test_start_up_line_says_where_everything_is_without_the_password(database_url):
    with_password = database_url.replace("postgres@", "postgres:s3cret@")
    with Gunicorn(with_password, workers=1, LOG_LEVEL="info", LOG_FORMAT="text") as server:
        wait_until(lambda: "serving" in server.output())
        output = server.output()
    line = next(line for line in output.splitlines() if "ticketing: serving" in line)
    assert f"serving {server.url} with 1 worker(s); API docs at {server.url}/docs" in line
    assert f"OpenAPI at {server.url}/openapi.json" in line
    assert "database postgresql+psycopg2://postgres:***@" in line
    assert "s3cret" not in output


@pytest.mark.slow
def test_text_logs_read_the_same_for_gunicorn_and_the_app(database_url):
    with Gunicorn(database_url, workers=1, LOG_LEVEL="info", LOG_FORMAT="text") as server:
        assert httpx.get(f"{server.url}/api/tickets").status_code == 401
        wait_until(lambda: "GET /api/tickets 401" in server.output())
        output = server.output()
    shape = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ +[\w.]+ \[(-|\w+)\] ")
    lines = output.strip().splitlines()
    assert [line for line in lines if not shape.match(line)] == []
    assert not any("[None]" in line for line in lines)
    request_line = next(line for line in lines if "GET /api/tickets 401" in line)
    assert re.search(r"\[\w{32}\] GET /api/tickets 401 \d+\.\dms$", request_line)


@pytest.mark.slow
def test_a_second_server_on_a_taken_address_leaves_the_metrics_alone(database_url):
    with Gunicorn(database_url, workers=1) as server:
        for _ in range(3):
            httpx.get(f"{server.url}/openapi.json")
        second = subprocess.run(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
             "wsgi:app"], cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "Address already in use" in second.stderr
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'http_requests_total{endpoint="/openapi.json",method="GET",status="200"} 3.0' in metrics
