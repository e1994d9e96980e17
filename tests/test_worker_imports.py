"""What a gunicorn worker imports when it builds the app: nothing it may never use.

Each of these is megabytes of every worker's memory (README "Benchmarks", memory): Alembic
and Mako run only `flask db` and the first /readyz; PyJWT and cryptography only Supabase
tokens and Idempotency-Key answers; the test tools never.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_AT_START = ("alembic", "mako", "jwt", "cryptography", "schemathesis", "hypothesis", "pytest")


def modules_after_building_the_app(tmp_path, **env) -> set[str]:
    """Top-level packages a fresh interpreter holds once `wsgi` has built the app."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("SUPABASE_", "ABLY_", "FLASK_"))}
    environment.update(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
                       PROMETHEUS_MULTIPROC_DIR=str(tmp_path), LOG_LEVEL="warning", **env)
    result = subprocess.run(
        [sys.executable, "-c", "import sys, wsgi; print(' '.join(sys.modules))"],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return {name.partition(".")[0] for name in result.stdout.split()}


def test_a_worker_imports_no_tool_it_does_not_use(tmp_path):
    loaded = modules_after_building_the_app(tmp_path)
    assert "ticketing" in loaded and "sqlalchemy" in loaded
    assert sorted(loaded.intersection(NOT_AT_START)) == []


def test_a_configured_supabase_project_brings_pyjwt(tmp_path):
    loaded = modules_after_building_the_app(tmp_path, SUPABASE_URL="https://x.supabase.co")
    assert "jwt" in loaded


def test_the_gunicorn_master_does_not_import_the_app(tmp_path):
    """gunicorn.conf.py's logging names the app's formatters; loading them must not load the
    app into the master, or every worker it forks (after `systemctl reload` too) would start
    with the old code already imported."""
    script = ("import logging.config, runpy, sys; "
              "settings = runpy.run_path('gunicorn.conf.py'); "
              "logging.config.dictConfig(settings['logconfig_dict']); "
              "print(' '.join(sys.modules))")
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment,
                            capture_output=True, text=True, check=True)
    ours = sorted(name for name in result.stdout.split() if name.startswith("ticketing"))
    assert ours == ["ticketing", "ticketing.logformat"]
    assert not {"flask", "sqlalchemy"} & {name.partition(".")[0] for name in result.stdout.split()}
