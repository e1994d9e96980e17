"""Prometheus metrics, correct across gunicorn workers (prometheus_client multiprocess mode).

gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a folder it empties at start; each worker
writes its samples there and /metrics, answered by any worker, adds them all up.
"""

import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.orm import Session

REQUESTS = Counter("http_requests_total", "HTTP requests answered",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("http_request_duration_seconds", "Time to answer HTTP requests",
                    ["method", "endpoint", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
POOL = Gauge("db_pool_connections", "Database pool connections by state (all workers)",
             ["state"], multiprocess_mode="livesum")
EVENTS_PENDING = Gauge("realtime_events_pending", "Committed events not yet published",
                       multiprocess_mode="mostrecent")
OLDEST_PENDING = Gauge("realtime_oldest_pending_age_seconds", "Age of the oldest pending event",
                       multiprocess_mode="mostrecent")
EVENTS_FAILED = Gauge("realtime_events_failed",
                      "Events marked failed (refused for good or out of retries)",
                      multiprocess_mode="mostrecent")
EVENTS_WAITING = Gauge("realtime_events_waiting_retry", "Pending events waiting for a retry",
                       multiprocess_mode="mostrecent")
FEED_LAG = Gauge("realtime_feed_lag_seconds",
                 "Age of the oldest committed event not yet in the feed",
                 multiprocess_mode="mostrecent")
CONFIG_ERROR = Gauge("realtime_config_error",
                     "1 while Ably refuses the key (credentials or capability), else 0",
                     multiprocess_mode="mostrecent")
EVENTS_PUBLISHED = Counter("realtime_events_published_total", "Events published to Ably")
PUBLISH_FAILURES = Counter("realtime_publish_failures_total", "Failed attempts to publish an event")


# (method, URL rule, status) -> its request counter and latency histogram: looking a labelled
# child up again on every request costs more than counting.
_request_metrics: dict[tuple[str, str, int], tuple] = {}


def _metrics_for(method: str, endpoint: str, status: int) -> tuple:
    key = (method, endpoint, status)
    found = _request_metrics.get(key)
    if found is None:
        labels = (method, endpoint, str(status))
        found = _request_metrics[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    return found


def _observe(response):
    # The URL rule, not the path, so ids do not explode the label set.
    rule = request.url_rule
    # g.request_started: set by the request log's before_request hook (observability/logs.py).
    observe_request(request.method, rule.rule if rule else "unmatched", response.status_code,
                    g.get("request_started", 0), current_app.extensions["db"])
    return response


def observe_request(method: str, endpoint: str, status: int, started: float,
                    database) -> None:
    """Count an answered request and its time since perf_counter `started`; now and then,
    sample the pools of `database` (the app's DatabaseState)."""
    requests, latency = _metrics_for(method, endpoint, status)
    requests.inc()
    latency.observe(time.perf_counter() - started)
    _observe_pool(database)


# This process's last pool figures: a gauge is written (a file write in multiprocess mode)
# only when its figure changed, which under steady load is seldom.
_pool_seen: dict[str, int] = {}
# Requests sample the pools at most this often: a scrape every few seconds sees a figure as
# fresh, and a busy worker skips the pools' bookkeeping on almost every request. /metrics
# samples its own worker's pools as it answers.
POOL_SAMPLE_INTERVAL = 0.1
_next_pool_sample = 0.0


def _observe_pool(database, force: bool = False) -> None:
    global _next_pool_sample
    now = time.monotonic()
    if not force and now < _next_pool_sample:
        return
    _next_pool_sample = now + POOL_SAMPLE_INTERVAL
    pools = [engine.pool for engine in database.engines]
    checked_out = sum(pool.checkedout() for pool in pools)
    for state, count in (("checked_out", checked_out),
                         ("idle", sum(pool.checkedin() for pool in pools))):
        if force or _pool_seen.get(state) != count:
            POOL.labels(state).set(count)
            _pool_seen[state] = count


def _observe_backlog() -> None:
    from ..realtime.status import backlog

    with Session(current_app.extensions["db"].engine) as session:
        report = backlog(session)
    EVENTS_PENDING.set(report["pending"])
    OLDEST_PENDING.set(report["oldest_pending_age_seconds"])
    EVENTS_FAILED.set(report["failed"])
    EVENTS_WAITING.set(report["waiting_retry"])
    FEED_LAG.set(report["feed_lag_seconds"])
    CONFIG_ERROR.set(1 if report["config_error"] else 0)


def registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def metrics_view() -> Response:
    try:
        _observe_backlog()
    except Exception:  # the database being down must not hide the other metrics
        current_app.logger.warning("metrics: realtime backlog unavailable", exc_info=True)
    _observe_pool(current_app.extensions["db"], force=True)
    # content_type, not mimetype: CONTENT_TYPE_LATEST has its charset, Flask would add another.
    return Response(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics_view)
    relay = app.extensions["realtime"].relay
    relay.on_publish = EVENTS_PUBLISHED.inc
    relay.on_failure = PUBLISH_FAILURES.inc
