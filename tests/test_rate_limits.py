"""Rate limits: per credential, per address without one; in process, in Redis, Redis gone."""

import logging
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from ticketing import create_app
from ticketing.auth import Role
from ticketing.auth.limits import client_network
from ticketing.config import Config

from .conftest import TestConfig
from .serving import Gunicorn, free_port, wait_until

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def anonymous(app):
    return app.test_client(credential=None)


GUESS = "tkt_" + "x" * 43  # shaped like an API key, but no such key


def statuses(client, count: int, path: str = "/api/tickets", **kwargs) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(count)]


def not_limited(codes: list[int]) -> bool:
    return all(code != 429 for code in codes)


def test_the_limit_answers_429_in_the_envelope_with_headers(limited_app):
    client = anonymous(limited_app())
    for remaining in (2, 1, 0):
        response = client.get("/api/tickets")
        assert response.status_code != 429
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 60
        assert response.headers["RateLimit-Policy"] == "3;w=60"
        assert "Retry-After" not in response.headers
    refused = client.get("/api/tickets")
    assert refused.status_code == 429
    assert refused.json == {"status": False, "errors": {},
                            "message": "Too many requests: the limit is 3 per 1 minute, "
                                       "try again later"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]


def test_every_api_route_and_method_shares_one_budget(limited_app):
    client = limited_app(RATE_LIMIT_DEFAULT="3 per minute").test_client()  # the admin key
    client.get("/api/tickets")
    client.get("/api/no-such-thing")  # scanning for routes costs too
    client.post("/api/tickets", json={})
    assert client.get("/api/agents").status_code == 429


def test_each_credential_has_its_own_budget(limited_app):
    app = limited_app()
    admin, viewer = app.test_client(credential=Role.ADMIN), app.test_client(credential=Role.VIEWER)
    assert statuses(admin, 5) == [200] * 5
    assert statuses(admin, 1) == [429]
    assert statuses(viewer, 5) == [200] * 5
    assert statuses(anonymous(app), 3) == [401] * 3  # the address, without a credential


def test_failed_guesses_exhaust_the_address_not_the_users_of_it(limited_app):
    app = limited_app()
    guesser = app.test_client(credential=GUESS)
    assert statuses(guesser, 3) == [401] * 3
    assert statuses(guesser, 2) == [429, 429]
    assert statuses(anonymous(app), 1) == [429]  # no credential at all: the same budget
    assert statuses(app.test_client(credential="eyJhbGciOiJub25lIn0.e30."), 1) == [429]
    assert statuses(app.test_client(credential=Role.AGENT), 5) == [200] * 5


def test_addresses_have_separate_budgets(limited_app):
    client = anonymous(limited_app())

    def from_address(address: str, count: int) -> list[int]:
        return statuses(client, count, environ_base={"REMOTE_ADDR": address})

    assert not_limited(from_address("203.0.113.7", 3))
    assert from_address("203.0.113.7", 1) == [429]
    assert not_limited(from_address("203.0.113.8", 3))
    assert not_limited(from_address("2001:db8:1:2::1", 2))
    same_64 = from_address("2001:db8:1:2:ffff::9", 2)
    assert same_64[0] != 429 and same_64[1] == 429
    assert not_limited(from_address("2001:db8:1:3::1", 3))


@pytest.mark.parametrize("address, network", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    (None, "unknown"),
    ("not an address", "not an address"),
])
def test_client_network(address, network):
    assert client_network(address) == network


def test_callers_let_in_anonymously_get_the_default_budget_per_address(limited_app):
    app = limited_app(AUTH_ANONYMOUS_ROLE="viewer", RATE_LIMIT_ANONYMOUS="5 per minute")
    client = anonymous(app)
    assert statuses(client, 5) == [200] * 5
    assert statuses(client, 1) == [429]
    assert statuses(app.test_client(credential=GUESS), 1) == [401]  # guesses count apart
    assert statuses(client, 5, environ_base={"REMOTE_ADDR": "203.0.113.9"}) == [200] * 5


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_routes_outside_the_api_are_not_limited(limited_app, path):
    client = anonymous(limited_app(RATE_LIMIT_ANONYMOUS="1 per minute"))
    for _ in range(4):
        response = client.get(path)
        assert response.status_code != 429 and "RateLimit-Limit" not in response.headers


def test_readyz_counts_credentials_it_is_shown(limited_app):
    """/readyz details answer a valid credential, so guesses there share the address budget."""
    app = limited_app()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    guesser = app.test_client(credential=GUESS)
    codes = [guesser.get("/readyz", environ_base=remote).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert statuses(guesser, 1, environ_base=remote) == [429]  # the same budget as the API
    viewer = app.test_client(credential=Role.VIEWER).get("/readyz", environ_base=remote)
    assert viewer.status_code == 200 and "checks" in viewer.json


def test_cors_preflights_are_not_limited(limited_app):
    app = limited_app(RATE_LIMIT_ANONYMOUS="1 per minute", CORS_ORIGINS=["https://desk.test"])
    client = anonymous(app)
    preflight = {"Origin": "https://desk.test", "Access-Control-Request-Method": "POST"}
    for _ in range(3):
        assert client.options("/api/tickets", headers=preflight).status_code == 200
    exposed = client.get("/api/tickets", headers={"Origin": "https://desk.test"}).headers[
        "Access-Control-Expose-Headers"]
    assert {"RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} <= set(exposed.split(", "))


def test_without_an_api_prefix_the_public_routes_stay_free(limited_app):
    client = anonymous(limited_app(API_PREFIX="", RATE_LIMIT_ANONYMOUS="1 per minute"))
    assert statuses(client, 2, "/tickets")[1] == 429
    assert not_limited(statuses(client, 3, "/healthz") + statuses(client, 3, "/openapi.json"))


def test_limits_can_be_switched_off(database_url):
    app = create_app(TestConfig(database_url, RATE_LIMIT_ANONYMOUS="1 per minute"))
    client = app.test_client()
    assert not_limited(statuses(client, 3))
    assert "RateLimit-Limit" not in client.get("/api/tickets").headers
    app.extensions["db"].dispose()


@pytest.mark.parametrize("settings, message", [
    ({"RATE_LIMIT_DEFAULT": "lots"}, "RATE_LIMIT_DEFAULT"),
    ({"RATE_LIMIT_ANONYMOUS": "10 per fortnight"}, "RATE_LIMIT_ANONYMOUS"),
    ({"RATE_LIMIT_ANONYMOUS": "0 per minute"}, "RATE_LIMIT_ANONYMOUS"),
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ({"REDIS_TIMEOUT": "0"}, "REDIS_TIMEOUT"),
])
def test_bad_settings_stop_the_start(monkeypatch, settings, message):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Config()


def test_settings_are_read(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_DEFAULT", "100/minute;2000/hour")
    monkeypatch.setenv("REDIS_URL", "rediss://:secret@redis.example.com:6380/1")
    config = Config()
    assert config.RATE_LIMIT_DEFAULT == "100/minute;2000/hour"
    assert config.RATE_LIMIT_ANONYMOUS == "30 per minute" and config.RATE_LIMITS_ENABLED


def test_the_tighter_of_several_limits_is_reported(limited_app):
    client = anonymous(limited_app(RATE_LIMIT_ANONYMOUS="2 per second;3 per hour"))
    response = client.get("/api/tickets")
    assert response.headers["RateLimit-Limit"] == "2"
    client.get("/api/tickets")
    time.sleep(1.1)
    client.get("/api/tickets")
    refused = client.get("/api/tickets")
    assert refused.status_code == 429 and refused.headers["RateLimit-Limit"] == "3"
    assert int(refused.headers["Retry-After"]) > 3000


# Redis -------------------------------------------------------------------------------------


def redis_answers(url: str = SHARED_REDIS) -> bool:
    try:
        return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_answers(),
                                 reason="no Redis answers on 127.0.0.1:6379 (CI runs one)")


def forget_keys(url: str, prefix: str) -> list[str]:
    """Delete this test's counters; return their keys."""
    client = redis.Redis.from_url(url)
    keys = [key.decode() for key in client.scan_iter(f"LIMITS:LIMITER/{prefix}/*")]
    if keys:
        client.delete(*keys)
    return keys


def fallback_gauge() -> float | None:
    return REGISTRY.get_sample_value("rate_limit_storage_fallback")


@needs_redis
def test_apps_sharing_redis_share_the_counters(limited_app):
    prefix = f"test-{uuid.uuid4().hex}"
    first, second = (limited_app(REDIS_URL=SHARED_REDIS, RATE_LIMIT_KEY_PREFIX=prefix)
                     for _ in range(2))
    try:
        assert statuses(first.test_client(), 3) == [200] * 3
        assert statuses(second.test_client(), 2) == [200] * 2
        assert statuses(first.test_client(), 1) == [429]
    finally:
        assert len(forget_keys(SHARED_REDIS, prefix)) == 1


def test_redis_down_serves_and_limits_in_memory(limited_app, caplog):
    failures = REGISTRY.get_sample_value("rate_limit_storage_failures_total") or 0
    app = limited_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", REDIS_TIMEOUT=0.2)
    client = anonymous(app)
    with caplog.at_level(logging.WARNING, logger="ticketing.auth.limits"):
        started = time.monotonic()
        codes = statuses(client, 5)
    assert codes == [401, 401, 401, 429, 429]  # still limited, never a 500
    assert time.monotonic() - started < 3
    assert fallback_gauge() == 1
    assert REGISTRY.get_sample_value("rate_limit_storage_failures_total") == failures + 1
    assert "Redis unreachable" in caplog.text


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, so it can be stopped and started again."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()

    def start() -> subprocess.Popen:
        process = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--dir", str(tmp_path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_answers(url), timeout=10)
        return process

    url = f"redis://127.0.0.1:{port}/0"
    server = {"process": start()}

    def stop() -> None:
        server["process"].terminate()
        server["process"].wait(10)

    yield url, stop, lambda: server.update(process=start())
    stop()


@pytest.mark.slow
def test_limits_move_to_memory_and_back_when_redis_goes_and_returns(limited_app, own_redis):
    url, stop, start = own_redis
    prefix = f"test-{uuid.uuid4().hex}"
    app = limited_app(REDIS_URL=url, RATE_LIMIT_KEY_PREFIX=prefix, REDIS_TIMEOUT=0.2,
                      RATE_LIMIT_DEFAULT="1000 per minute")
    client = app.test_client()  # the admin key
    assert statuses(client, 2) == [200, 200]
    assert fallback_gauge() == 0
    stop()
    assert statuses(client, 2) == [200, 200]
    assert fallback_gauge() == 1
    start()
    # The worker tries Redis again after 1, 2, 4 ... seconds.
    wait_until(lambda: statuses(client, 1) == [200] and fallback_gauge() == 0,
               timeout=40, interval=0.5)
    client.get("/api/tickets")
    keys = forget_keys(url, prefix)
    assert len(keys) == 1 and keys[0].startswith(f"LIMITS:LIMITER/{prefix}/credential:api_key:")


# Real gunicorn workers ---------------------------------------------------------------------


def spread_requests(url: str, count: int, **headers: str) -> list[int]:
    # A new connection per request, so the workers share the requests.
    return [httpx.get(f"{url}/api/tickets", headers=headers, timeout=10).status_code
            for _ in range(count)]


@pytest.mark.slow
@needs_redis
def test_three_gunicorn_workers_share_the_counters_in_redis(app, database_url):
    prefix = f"test-{uuid.uuid4().hex}"
    settings = {"RATE_LIMITS_ENABLED": "true", "REDIS_URL": SHARED_REDIS,
                "RATE_LIMIT_KEY_PREFIX": prefix, "RATE_LIMIT_ANONYMOUS": "10 per minute",
                "PROXY_HOPS": "1"}  # as behind nginx (deploy/ticketing.env.example)
    try:
        with Gunicorn(database_url, workers=3, **settings) as server:
            codes = spread_requests(server.url, 20)
            assert codes == [401] * 10 + [429] * 10, codes  # no credential: the address budget
            # Behind nginx (PROXY_HOPS=1) each client address has a budget of its own.
            other = spread_requests(server.url, 11, **{"X-Forwarded-For": "198.51.100.4"})
            assert other == [401] * 10 + [429], other
            counters = redis.Redis.from_url(SHARED_REDIS)
            hits = {key: int(counters.get(key)) for key in counters.scan_iter(
                f"LIMITS:LIMITER/{prefix}/*")}
            assert sorted(hits.values()) == [11, 20], hits  # one counter per address
    finally:
        forget_keys(SHARED_REDIS, prefix)


@pytest.mark.slow
def test_gunicorn_workers_keep_serving_when_redis_is_down(app, database_url):
    settings = {"RATE_LIMITS_ENABLED": "true", "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                "REDIS_TIMEOUT": "0.2", "RATE_LIMIT_ANONYMOUS": "4 per minute"}
    with Gunicorn(database_url, workers=3, **settings) as server:
        codes = spread_requests(server.url, 20)  # without a credential: 401 until limited
        metrics = httpx.get(f"{server.url}/metrics").text
    assert set(codes) <= {401, 429}, codes  # never a 5xx
    served = len(codes) - codes.count(429)
    assert 4 <= served <= 12, codes  # each worker counts on its own: at most 3 x 4
    assert "rate_limit_storage_fallback 1.0" in metrics


# The counters themselves ------------------------------------------------------------------


def test_memory_windows_restart_when_they_end_and_expired_ones_are_dropped(monkeypatch):
    from ticketing.auth.counters import MemoryCounters

    counters = MemoryCounters()
    monkeypatch.setattr(MemoryCounters, "PRUNE_ABOVE", 3)
    assert counters.hit("a", 1)[0] == 1
    count, ends_at = counters.hit("a", 1)
    assert count == 2 and 0 < ends_at - time.time() <= 1
    counters.hit("b", 1)
    time.sleep(1.05)
    assert counters.hit("a", 60)[0] == 1  # a new window, of the new length
    counters.hit("c", 60)
    counters.hit("d", 60)  # a fourth key: the expired "b" goes
    assert sorted(counters._windows) == ["a", "c", "d"]


def test_many_live_windows_are_not_swept_on_every_hit(monkeypatch):
    from ticketing.auth.counters import MemoryCounters

    monkeypatch.setattr(MemoryCounters, "PRUNE_ABOVE", 3)
    counters = MemoryCounters()
    sweeps = []
    original = MemoryCounters._prune
    monkeypatch.setattr(MemoryCounters, "_prune",
                        lambda self, now: (sweeps.append(len(self._windows)), original(self, now)))
    for number in range(20):  # all live: a sweep keeps them all
        counters.hit(f"caller-{number}", 60)
    assert sweeps == [4, 9, 19]  # each after the windows doubled, not on every hit
