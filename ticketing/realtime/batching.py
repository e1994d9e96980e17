"""Split one round's messages into batch requests, sent side by side in lanes.

Each resource's messages stay in one lane, in order, so a resource's events leave in the order
they were recorded; different lanes run concurrently. Within a lane, once a message of a
resource failed, the rest of that resource waits for a later round.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from .publisher import (
    MAX_REQUEST_BYTES,
    MAX_REQUEST_MESSAGES,
    PublishError,
    as_publish_error,
    encoded_size,
)

Outcomes = dict[int, PublishError | None]


def plan_lanes(messages: list[dict], lanes: int) -> list[list[list[dict]]]:
    """Deal resources out to at most `lanes` lanes; cut each lane into bounded requests."""
    by_resource: dict[tuple, list[dict]] = {}
    for message in messages:
        by_resource.setdefault(message["resource"], []).append(message)
    lane_messages: list[list[dict]] = [[] for _ in range(min(lanes, len(by_resource)))]
    # Biggest resources first, each to the lane with the fewest messages so far.
    for sequence in sorted(by_resource.values(), key=len, reverse=True):
        min(lane_messages, key=len).extend(sequence)
    for lane in lane_messages:
        lane.sort(key=lambda message: message["event"])
    return [_requests(lane) for lane in lane_messages]


def _requests(messages: list[dict]) -> list[list[dict]]:
    requests, current, size = [], [], 0
    for message in messages:
        message_size = encoded_size(message["data"]) + 200
        if current and (len(current) >= MAX_REQUEST_MESSAGES
                        or size + message_size > MAX_REQUEST_BYTES):
            requests.append(current)
            current, size = [], 0
        current.append(message)
        size += message_size
    if current:
        requests.append(current)
    return requests


def send_lanes(publisher, lanes: list[list[list[dict]]], stopping: threading.Event) -> Outcomes:
    """Send every lane; return each attempted event's outcome (unattempted ones are absent)."""
    if len(lanes) <= 1:  # the common case under light load: no threads to start
        return send_lane(publisher, lanes[0], stopping) if lanes else {}
    outcomes: Outcomes = {}
    with ThreadPoolExecutor(len(lanes), thread_name_prefix="realtime-lane") as pool:
        for lane_outcomes in pool.map(lambda lane: send_lane(publisher, lane, stopping), lanes):
            outcomes.update(lane_outcomes)
    return outcomes


def send_lane(publisher, requests: list[list[dict]], stopping: threading.Event) -> Outcomes:
    outcomes: Outcomes = {}
    waiting: set[tuple] = set()  # resources with a failed message in this round
    for request in requests:
        if stopping.is_set():
            break  # the process is going away: record what was sent, leave the rest pending
        batch = [message for message in request if message["resource"] not in waiting]
        if not batch:
            continue
        try:
            results = publisher.publish(batch)
        # Anything the SDK lets escape (e.g. on an odd 2xx body) is retryable too.
        except Exception as error:
            results = [as_publish_error(error)] * len(batch)
        for message, outcome in zip(batch, results, strict=True):
            outcomes[message["event"]] = outcome
            if outcome is not None and outcome.retryable:
                waiting.add(message["resource"])
    return outcomes
