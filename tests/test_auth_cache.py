"""The credential cache stays small however many credentials a worker sees."""

import pytest

from ticketing.auth import cache as cache_module
from ticketing.auth.cache import TTLCache


@pytest.fixture
def clock(monkeypatch):
    """A monotonic clock the test moves by hand."""
    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    return now


def test_an_entry_lives_for_the_ttl(clock):
    cache = TTLCache(30)
    cache.put("tkt_one", "actor")
    clock[0] += 29.9
    assert cache.get("tkt_one") == "actor"
    clock[0] += 0.1
    assert cache.get("tkt_one") is None
    assert len(cache) == 0


def test_expired_entries_go_as_new_ones_come_in(clock):
    """Credentials seen once are not kept until the worker is recycled."""
    cache = TTLCache(30)
    for number in range(100):
        cache.put(f"tkt_{number}", number)
    clock[0] += 30
    cache.put("tkt_new", "fresh")
    assert len(cache) == 1
    assert cache.get("tkt_new") == "fresh"


def test_at_most_max_entries_the_oldest_go_first(clock):
    cache = TTLCache(30, max_entries=3)
    for number in range(5):
        cache.put(f"tkt_{number}", number)
        clock[0] += 1
    assert len(cache) == 3
    assert [cache.get(f"tkt_{number}") for number in range(5)] == [None, None, 2, 3, 4]


def test_storing_again_renews_the_entry(clock):
    cache = TTLCache(30, max_entries=2)
    cache.put("tkt_a", 1)
    cache.put("tkt_b", 2)
    clock[0] += 20
    cache.put("tkt_a", 3)
    cache.put("tkt_c", 4)  # the oldest entry is now tkt_b's
    assert (cache.get("tkt_a"), cache.get("tkt_b"), cache.get("tkt_c")) == (3, None, 4)
    clock[0] += 15
    assert cache.get("tkt_a") == 3


def test_keys_are_digests_not_credentials():
    """A 16 KB token costs 32 bytes of key, and the secret is not kept in memory."""
    cache = TTLCache(30)
    token = "ey" + "a" * 16_000
    cache.put(token, "actor")
    assert cache.get(token) == "actor"
    assert cache.get(token[:-1]) is None
    assert [len(key) for key in cache._entries] == [32]
    assert all(isinstance(key, bytes) for key in cache._entries)


def test_a_zero_ttl_stores_nothing():
    cache = TTLCache(0)
    cache.put("tkt_one", "actor")
    assert cache.get("tkt_one") is None
    assert len(cache) == 0


def test_clear_forgets_everything():
    cache = TTLCache(30)
    cache.put("tkt_one", "actor")
    cache.clear()
    assert cache.get("tkt_one") is None
