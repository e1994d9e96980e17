"""Turn one round's messages into batch requests, sent side by side in lanes.

Each resource's consecutive messages form one batch spec: a multi-message publish to its
channel, which Ably accepts or refuses as a whole, so a resource's events can never arrive out
of order or with a gap. Ably requires the client-supplied ids of such a publish to be
`<base>:<index>`; the base is the id of the spec's first event, and specs are cut from the
resource's oldest pending event by fixed limits, so a re-sent event gets the same message id
again (which Ably de-duplicates) as long as it is re-sent with the events it went out with.

A round that fits in one request is sent as one request. A larger one is dealt out to lanes:
a resource stays in one lane; lanes run concurrently; within a lane, a resource's later spec
goes only after its earlier one was taken.
"""

import threading

from .publisher import (
    MAX_REQUEST_BYTES,
    MAX_REQUEST_MESSAGES,
    MAX_SPEC_BYTES,
    PublishError,
    as_publish_error,
)

Outcomes = dict[int, PublishError | None]  # event id -> None (taken by Ably) or the error
MESSAGE_OVERHEAD = 200  # bytes of id, name and JSON punctuation per message, roughly


def specs_of(run: list[dict]) -> list[dict]:
    """Cut one resource's messages (oldest first) into specs within Ably's publish limit."""
    specs, current, size = [], [], 0
    for message in run:
        message_size = message["size"] + MESSAGE_OVERHEAD
        if current and (len(current) >= MAX_REQUEST_MESSAGES
                        or size + message_size > MAX_SPEC_BYTES):
            specs.append(_spec(current, size))
            current, size = [], 0
        current.append(message)
        size += message_size
    if current:
        specs.append(_spec(current, size))
    return specs


def _spec(messages: list[dict], size: int) -> dict:
    base = messages[0]["id"]
    return {"channel": messages[0]["channel"], "resource": messages[0]["resource"],
            "size": size, "events": [message["event"] for message in messages],
            "messages": [{**message, "id": f"{base}:{index}"}
                         for index, message in enumerate(messages)]}


def plan_lanes(messages: list[dict], lanes: int) -> list[list[list[dict]]]:
    """Deal resources out to at most `lanes` lanes; return each lane's requests, in order.

    A message: {event, resource, channel, id, name, data, size (of data as JSON, in bytes)}.
    """
    runs: dict[tuple, list[dict]] = {}
    for message in messages:
        runs.setdefault(message["resource"], []).append(message)
    # Biggest resources first, so that dealing them out evens the lanes.
    resources = [specs_of(run) for run in sorted(runs.values(), key=len, reverse=True)]
    single = _requests(resources) if resources else []
    if len(single) <= 1 or lanes == 1:  # what a round after a few commits holds: no thread
        return [single] if single else []
    count = min(lanes, len(resources))
    lane_specs: list[list[list[dict]]] = [[] for _ in range(count)]
    loads = [0] * count
    for specs in resources:  # each to the lane with the fewest messages so far
        lane = loads.index(min(loads))
        lane_specs[lane].append(specs)
        loads[lane] += sum(len(spec["events"]) for spec in specs)
    return [_requests(resource_specs) for resource_specs in lane_specs]


def _requests(resource_specs: list[list[dict]]) -> list[list[dict]]:
    """Requests for one lane: the k-th specs of its resources go after all (k-1)-th ones."""
    requests = []
    for layer in range(max(len(specs) for specs in resource_specs)):
        current, count, size = [], 0, 0
        for specs in resource_specs:
            if layer >= len(specs):
                continue
            spec = specs[layer]
            if current and (count + len(spec["events"]) > MAX_REQUEST_MESSAGES
                            or size + spec["size"] > MAX_REQUEST_BYTES):
                requests.append(current)
                current, count, size = [], 0, 0
            current.append(spec)
            count, size = count + len(spec["events"]), size + spec["size"]
        if current:
            requests.append(current)
    return requests


def send_lanes(publisher, lanes: list[list[list[dict]]], stopping: threading.Event) -> Outcomes:
    """Send every lane; return each attempted event's outcome (unattempted ones are absent).

    The first lane goes in this thread, each other one in a thread of its own. Plain threads,
    not an executor: concurrent.futures refuses new work once the interpreter starts exiting,
    while an exiting worker's relay is still finishing its round (see RealtimeState.stop).
    """
    results: list[Outcomes] = [{} for _ in lanes]
    errors: list[BaseException] = []  # what a lane raised, raised again here

    def send(index: int) -> None:
        try:
            results[index] = send_lane(publisher, lanes[index], stopping)
        except BaseException as error:
            errors.append(error)

    others = [threading.Thread(target=send, args=(index,), name="realtime-lane", daemon=True)
              for index in range(1, len(lanes))]
    for thread in others:
        thread.start()
    if lanes:
        send(0)
    for thread in others:
        thread.join()
    if errors:
        raise errors[0]
    return {event: outcome for lane in results for event, outcome in lane.items()}


def send_lane(publisher, requests: list[list[dict]], stopping: threading.Event) -> Outcomes:
    outcomes: Outcomes = {}
    waiting: set[tuple] = set()  # resources with a refused spec in this round
    for request in requests:
        if stopping.is_set():
            break  # the process is going away: record what was sent, leave the rest pending
        batch = [spec for spec in request if spec["resource"] not in waiting]
        if not batch:
            continue
        try:
            results = publisher.publish(batch)
        # Anything the SDK lets escape (e.g. on an odd 2xx body) is retryable too.
        except Exception as error:
            results = [as_publish_error(error)] * len(batch)
        for spec, outcome in zip(batch, results, strict=True):
            outcomes.update(dict.fromkeys(spec["events"], outcome))
            if outcome is not None:
                waiting.add(spec["resource"])
    return outcomes
