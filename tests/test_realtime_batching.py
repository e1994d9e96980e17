"""How a round's messages become batch requests: one request when they fit, else lanes."""

from collections import defaultdict

from ticketing.realtime.batching import plan_lanes
from ticketing.realtime.publisher import MAX_REQUEST_MESSAGES


def messages(resources: int, per_resource: int) -> list[dict]:
    """Oldest first, resources interleaved as commits would be."""
    return [{"event": version * resources + number, "resource": ("ticket", f"t{number}"),
             "channel": "tickets-updates", "id": f"e{version}-{number}", "name": "ticket_updated",
             "data": {"version": version}, "size": 100}
            for version in range(per_resource) for number in range(resources)]


def test_a_round_that_fits_in_one_request_is_one_request():
    lanes = plan_lanes(messages(resources=3, per_resource=2), lanes=8)
    assert len(lanes) == 1 and len(lanes[0]) == 1
    [request] = lanes[0]
    assert sorted(spec["resource"][1] for spec in request) == ["t0", "t1", "t2"]
    assert all(len(spec["events"]) == 2 for spec in request)


def test_a_larger_round_is_dealt_out_to_lanes_in_order():
    sent = messages(resources=50, per_resource=5)  # 250 messages: three requests at least
    lanes = plan_lanes(sent, lanes=8)
    assert len(lanes) == 8
    lane_of, seen = {}, defaultdict(list)
    for number, requests in enumerate(lanes):
        for request in requests:
            assert sum(len(spec["events"]) for spec in request) <= MAX_REQUEST_MESSAGES
            for spec in request:
                assert lane_of.setdefault(spec["resource"], number) == number
                seen[spec["resource"]] += spec["events"]
    expected = defaultdict(list)
    for message in sent:
        expected[message["resource"]].append(message["event"])
    assert seen == expected  # every event once, each resource's in order


def test_nothing_to_send_is_no_lane():
    assert plan_lanes([], lanes=8) == []
