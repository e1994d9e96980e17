"""Bad realtime settings stop start-up with a message naming the setting."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ticketing import create_app
from ticketing.config import Config

from .conftest import TestConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, value", [
    ("REALTIME_PUBLISH_CONCURRENCY", 0),  # used to crash every round
    ("REALTIME_BATCH_SIZE", 0),  # used to publish nothing, silently
    ("REALTIME_BATCH_SIZE", -5),
    ("REALTIME_POLL_INTERVAL", 0),
    ("REALTIME_COALESCE_WINDOW", -0.001),
    ("REALTIME_COALESCE_WINDOW", 2),
    ("REALTIME_MAX_BACKOFF", -1.0),
    ("REALTIME_MAX_ATTEMPTS", 0),
    ("REALTIME_MAX_EVENT_AGE", 0),
    ("EVENTS_RETENTION_DAYS", 0),
    ("REALTIME_BATCH_SIZE", 2.5),
    ("ABLY_TIMEOUT", 0),
])
def test_out_of_range_settings_stop_the_app(database_url, name, value):
    with pytest.raises(ValueError, match=name):
        create_app(TestConfig(database_url, **{name: value}))


@pytest.mark.parametrize("name", ["REALTIME_BATCH_SIZE", "EVENTS_RETENTION_DAYS",
                                  "REALTIME_POLL_INTERVAL"])
def test_unparsable_environment_values_name_the_setting(monkeypatch, name):
    monkeypatch.setenv(name, "lots")
    with pytest.raises(ValueError, match=f"{name} must be"):
        Config()


def test_defaults_are_valid_and_documented_values(monkeypatch, database_url):
    config = TestConfig(database_url)
    assert (config.REALTIME_BATCH_SIZE, config.REALTIME_PUBLISH_CONCURRENCY,
            config.REALTIME_MAX_ATTEMPTS, config.REALTIME_MAX_EVENT_AGE,
            config.EVENTS_RETENTION_DAYS, config.REALTIME_COALESCE_WINDOW) == (
        500, 8, 50, 3600.0, 90, 0.02)
    create_app(config).extensions["db"].dispose()


def test_flask_refuses_to_start_with_a_bad_setting(database_url):
    env = {**os.environ, "FLASK_APP": "ticketing:create_app", "DATABASE_URL": database_url,
           "REALTIME_PUBLISH_CONCURRENCY": "0"}
    flask = str(Path(sys.executable).with_name("flask"))
    result = subprocess.run([flask, "realtime", "status"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "REALTIME_PUBLISH_CONCURRENCY must be between 1 and 64, not 0" in result.stderr
