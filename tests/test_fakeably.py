"""FakeAbly against the real ably SDK (ably.sync.AblyRestSync), over plain HTTP, no mocks."""

import base64
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from ably.sync import AblyAuthException, AblyException, AblyRestSync
from ably.sync.types.message import Message

try:
    from tests.fakeably import DEFAULT_KEY, FakeAbly, sign_token_request
except ImportError:  # tests/ is not a package and the project root is not on sys.path
    from fakeably import DEFAULT_KEY, FakeAbly, sign_token_request

CHANNEL = "tickets-updates"


@pytest.fixture
def server():
    with FakeAbly() as fake:
        yield fake


@pytest.fixture
def make_client(server):
    clients = []

    def make(**overrides):
        client = AblyRestSync(**server.client_options(**overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def channel(make_client):
    return make_client().channels.get(CHANNEL)


def test_app_style_constructor_publishes_and_reads_history(server):
    # The exact kwargs the app uses; timeouts are seconds in this SDK.
    client = AblyRestSync(key=server.key, endpoint="127.0.0.1", port=server.port, tls=False,
                          use_token_auth=True, http_open_timeout=2, http_request_timeout=2,
                          http_max_retry_count=1, fallback_hosts=[])
    with client:
        channel = client.channels.get(CHANNEL)
        result = channel.publish(messages=[Message(name="ticket_created", data={"ticket": 7},
                                                   id="evt-1")])
        items = channel.history().items

    assert [(m.id, m.name, m.data) for m in items] == [("evt-1", "ticket_created", {"ticket": 7})]
    [published] = server.published(CHANNEL)
    assert published["data"] == {"ticket": 7} and published["encoding"] is None
    assert result.serials == [published["serial"]]
    assert abs(published["timestamp"] - time.time() * 1000) < 5000


def test_publish_name_data_and_batch_in_order(server, channel):
    channel.publish("ticket_created", {"id": 1})
    channel.publish(messages=[Message(name="ticket_updated", data={"id": 1}, id="evt:0"),
                              Message(name="ticket_closed", data="text", id="evt:1")])

    published = server.published(CHANNEL)
    assert [(m["name"], m["data"]) for m in published] == [
        ("ticket_created", {"id": 1}), ("ticket_updated", {"id": 1}), ("ticket_closed", "text")]
    assert published[0]["id"]  # the SDK generates ids for idempotent publishing
    assert server.publish_requests == 2


def test_history_is_newest_first_and_honours_limit_direction_and_paging(server, channel):
    channel.publish(messages=[Message(name=f"m{i}", data={"i": i}, id=f"batch:{i}")
                              for i in range(5)])

    assert [m.name for m in channel.history().items] == ["m4", "m3", "m2", "m1", "m0"]
    assert [m.name for m in channel.history(direction="forwards").items][:2] == ["m0", "m1"]
    page = channel.history(limit=2)
    assert [m.name for m in page.items] == ["m4", "m3"] and page.has_next()
    page = page.next()
    assert [m.name for m in page.items] == ["m2", "m1"]
    assert [m.name for m in page.next().items] == ["m0"]


def test_duplicate_ids_are_acknowledged_but_recorded_once(server, channel):
    channel.publish(messages=[Message(name="ticket_created", data={"v": 1}, id="evt-1")])
    channel.publish(messages=[Message(name="ticket_created", data={"v": 2}, id="evt-1")])
    # The SDK writes its generated ids back into the Message objects, so a retry of the same
    # objects is de-duplicated too.
    batch = [Message(name="a", data="1"), Message(name="b", data="2")]
    channel.publish(messages=batch)
    channel.publish(messages=batch)

    assert [m["data"] for m in server.published(CHANNEL)] == [{"v": 1}, "1", "2"]
    assert server.publish_requests == 4
    assert len(channel.history().items) == 3


def test_json_protocol_and_binary_data_round_trip(server, make_client):
    channel = make_client(use_binary_protocol=False).channels.get(CHANNEL)
    channel.publish(messages=[Message(name="json", data={"a": [1, 2]}, id="jb:0"),
                              Message(name="bin", data=b"\x00\xff", id="jb:1")])

    assert [m["data"] for m in server.published(CHANNEL)] == [{"a": [1, 2]}, b"\x00\xff"]
    assert [m.data for m in channel.history(direction="forwards").items] == [
        {"a": [1, 2]}, bytearray(b"\x00\xff")]
    msgpack_channel = make_client().channels.get(CHANNEL)
    assert msgpack_channel.history().items[0].data == bytearray(b"\x00\xff")


def test_percent_encoded_channel_names(server, make_client):
    name = "tickets updates/ä:x+y"
    make_client().channels.get(name).publish("n", "d")
    assert [m["data"] for m in server.published(name)] == ["d"]
    assert make_client().channels.get(name).history().items[0].data == "d"


def test_fail_with_503_raises_ably_exception_then_recovers(server, channel):
    server.fail_with(503)
    with pytest.raises(AblyException) as caught:
        channel.publish("ticket_created", {"id": 1})
    assert type(caught.value) is AblyException  # ably.sync.util.exceptions.AblyException
    assert (caught.value.status_code, caught.value.code) == (503, 50300)

    server.recover()
    channel.publish("ticket_created", {"id": 1})
    assert len(server.published(CHANNEL)) == 1
    assert server.publish_requests == 2


def test_fail_with_times_fails_only_the_next_publishes(server, channel):
    server.fail_with(500, times=1)
    with pytest.raises(AblyException):
        channel.publish("a", "1")
    channel.publish("b", "2")
    assert [m["name"] for m in server.published(CHANNEL)] == ["b"]


def test_hang_times_out_the_client_with_httpx_read_timeout(server, make_client):
    channel = make_client(http_request_timeout=0.3).channels.get(CHANNEL)
    channel.publish("warm-up", "x")  # get the token before the hang
    server.hang(5)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        channel.publish("ticket_created", {"id": 1})
    assert time.monotonic() - started < 2  # 0.3 means seconds, not milliseconds

    server.recover()  # also releases the hung request
    channel.publish("ticket_created", {"id": 1})
    assert [m["name"] for m in server.published(CHANNEL)] == ["warm-up", "ticket_created"]


def test_a_hang_shorter_than_the_client_timeout_answers_504(server, channel):
    server.hang(0.1)
    with pytest.raises(AblyException) as caught:
        channel.publish("ticket_created", "x")
    assert caught.value.status_code == 504
    assert server.published(CHANNEL) == []


def test_delay_slows_publishes_but_they_succeed(server, channel):
    channel.publish("warm-up", "x")
    server.delay(0.2)
    started = time.monotonic()
    channel.publish("slow", "x")
    assert time.monotonic() - started >= 0.2
    assert len(server.published(CHANNEL)) == 2


def test_refuse_gives_connect_error_and_start_resumes_on_same_port(server, channel):
    channel.publish("before", "1")
    port = server.port
    server.refuse()

    with pytest.raises(httpx.ConnectError):
        channel.publish("during", "2")
    with pytest.raises(AblyException) as caught:  # history() wraps network errors
        channel.history()
    assert (caught.value.status_code, caught.value.code) == (500, 50000)

    server.start()
    assert server.port == port
    channel.publish("after", "3")
    assert [m["name"] for m in server.published(CHANNEL)] == ["before", "after"]


def test_token_request_capability_and_ttl_are_recorded(server, make_client):
    client = make_client()
    capability = {CHANNEL: ["history", "publish"]}
    details = client.auth.authorize(token_params={"capability": capability, "ttl": 60000})

    request = server.token_requests[-1]
    assert (request["keyName"], request["capability"], request["ttl"]) == (
        server.key_name, capability, 60000)
    assert request["accepted"]
    assert details.expires - details.issued == 60000
    assert dict(details.capability) == {CHANNEL: {"history", "publish"}}
    client.channels.get(CHANNEL).publish("allowed", "x")
    assert len(server.published(CHANNEL)) == 1


def test_token_without_publish_capability_is_rejected(server, make_client):
    client = make_client()
    client.auth.authorize(token_params={"capability": {CHANNEL: ["subscribe"]}})

    with pytest.raises(AblyAuthException) as caught:
        client.channels.get(CHANNEL).publish("denied", "x")
    assert (caught.value.status_code, caught.value.code) == (401, 40160)
    assert server.published(CHANNEL) == []


def test_create_token_request_is_local_and_accepted_by_request_token(server, make_client):
    token_request = make_client().auth.create_token_request(
        token_params={"capability": {CHANNEL: ["subscribe", "history"]}, "ttl": 3600000})
    assert server.request_log == []  # signed locally, no HTTP

    # What a browser does with the authUrl response: POST it to requestToken as JSON.
    body = token_request.to_dict()
    response = httpx.post(f"{server.url}/keys/{body['keyName']}/requestToken", json=body)
    assert response.status_code == 200
    details = response.json()
    assert details["keyName"] == server.key_name
    assert details["expires"] - details["issued"] == 3600000

    reader = make_client(key=None, token=details["token"], use_token_auth=None)
    assert reader.channels.get(CHANNEL).history().items == []
    with pytest.raises(AblyAuthException):
        reader.channels.get(CHANNEL).publish("nope", "x")


def test_auth_callback_returning_a_token_request_works(server, make_client):
    # The SDK's own authUrl/authCallback path: it posts the token request for us.
    signer = make_client()
    browser = make_client(key=None, use_token_auth=True,
                          auth_callback=lambda params: signer.auth.create_token_request(
                              token_params={"capability": {"*": ["*"]}}).to_dict())
    browser.channels.get(CHANNEL).publish("from-browser", "x")
    assert server.published(CHANNEL)[0]["name"] == "from-browser"


def _signed_request(key_name=None, **changes):
    key_name = key_name or DEFAULT_KEY.split(":")[0]
    body = {"keyName": key_name, "ttl": 60000, "capability": '{"*":["*"]}', "clientId": None,
            "timestamp": int(time.time() * 1000), "nonce": "0123456789abcdef0"}
    body["mac"] = sign_token_request(DEFAULT_KEY.split(":")[1], body)
    return {**body, **changes}


@pytest.mark.parametrize(("body", "code"), [
    (_signed_request(mac="AAAA"), 40101),
    (_signed_request(ttl=120000), 40101),  # signed fields changed after signing
    (_signed_request(key_name="other.key"), 40101),
    (_signed_request(timestamp=1), 40101),
])
def test_bad_token_requests_are_rejected_with_ably_errors(server, body, code):
    response = httpx.post(f"{server.url}/keys/{body['keyName']}/requestToken", json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert server.token_requests[-1]["accepted"] is False


def test_stale_timestamp_and_replayed_nonce_are_rejected(server):
    def post(body):
        return httpx.post(f"{server.url}/keys/{body['keyName']}/requestToken", json=body)

    stale = _signed_request(timestamp=int(time.time() * 1000) - 3600_000)
    stale["mac"] = sign_token_request(DEFAULT_KEY.split(":")[1], stale)
    assert post(stale).json()["error"]["code"] == 40104
    fresh = _signed_request()
    assert post(fresh).status_code == 200
    assert post(fresh).json()["error"]["code"] == 40105


def test_expired_tokens_are_renewed_by_the_sdk(server, channel):
    channel.publish("first", "1")
    server.expire_tokens()
    channel.publish("second", "2")  # 401/40142 -> SDK re-authorises and retries once
    assert len(server.token_requests) == 2
    assert len(server.published(CHANNEL)) == 2


def test_basic_auth_is_refused_by_sdk_over_http_but_accepted_by_server(server, make_client):
    with pytest.raises(AblyAuthException) as caught:
        make_client(use_token_auth=None).channels.get(CHANNEL).publish("basic", "x")
    assert caught.value.code == 40103 and server.request_log == []

    basic = base64.b64encode(server.key.encode()).decode()
    response = httpx.post(f"{server.url}/channels/{CHANNEL}/messages",
                          json={"name": "basic", "data": "x"},
                          headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 201
    assert response.json()["channel"] == CHANNEL


def test_unauthenticated_and_unknown_routes(server, make_client):
    response = httpx.get(f"{server.url}/nope")
    assert response.status_code == 404
    assert response.json()["error"] == {"message": "FakeAbly: no route for GET /nope",
                                        "code": 40400, "statusCode": 404,
                                        "href": "https://help.ably.io/error/40400"}
    assert httpx.get(f"{server.url}/channels/x/messages").status_code == 401
    assert abs(make_client().time() - time.time() * 1000) < 5000


def test_max_retry_count_zero_is_broken_in_the_sdk(make_client):
    # Characterises ably-python 3.1.4: zero hosts are tried and make_request returns None.
    with pytest.raises(AttributeError):
        make_client(http_max_retry_count=0).channels.get(CHANNEL).publish("x", "y")


def test_concurrent_publishes_and_wait_for(server, channel):
    def publish(i):
        channel.publish(messages=[Message(name="c", data={"i": i}, id=f"c-{i}")])

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    published = server.wait_for(CHANNEL, 20, timeout=5)
    for thread in threads:
        thread.join()
    assert sorted(m["data"]["i"] for m in published) == list(range(20))
    with pytest.raises(AssertionError):
        server.wait_for(CHANNEL, 21, timeout=0.05)


def test_reset_clears_recorded_state_but_keeps_tokens(server, channel):
    channel.publish(messages=[Message(name="a", data="1", id="evt-1")])
    server.reset()
    assert (server.published(CHANNEL), server.publish_requests, server.token_requests) == (
        [], 0, [])
    channel.publish(messages=[Message(name="a", data="1", id="evt-1")])  # old token still valid
    assert len(server.published(CHANNEL)) == 1 and server.token_requests == []


def test_cli_runs_in_foreground_with_delay():
    script = Path(__file__).with_name("fakeably.py")
    process = subprocess.Popen([sys.executable, str(script), "--port", "0", "--delay", "0.2"],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        client = AblyRestSync(key=lines["FAKEABLY_KEY"], endpoint="127.0.0.1",
                              port=int(lines["FAKEABLY_PORT"]), tls=False, use_token_auth=True,
                              http_max_retry_count=1)
        with client:
            started = time.monotonic()
            client.channels.get(CHANNEL).publish("bench", "x")
            assert time.monotonic() - started >= 0.2
            assert client.channels.get(CHANNEL).history().items[0].name == "bench"
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_multi_message_publish_needs_ids_from_one_base(server, channel):
    """Like Ably (error 40031): ids of messages published together must be `<base>:<i>`."""
    with pytest.raises(AblyException) as error:
        channel.publish(messages=[Message(name="a", data="1", id="evt-1"),
                                  Message(name="b", data="2", id="evt-2")])
    assert (error.value.status_code, error.value.code) == (400, 40031)
    assert server.published(channel.name) == []


# -- batch publish (POST /messages) and time-limited de-duplication --------------------------


def batch_spec(channel: str, *messages: tuple[str, str]) -> dict:
    return {"channels": [channel],
            "messages": [{"id": message_id, "name": name, "data": "x"}
                         for message_id, name in messages]}


def test_batch_publish_answers_one_result_per_spec(server, make_client):
    client = make_client()
    response = client.request("POST", "/messages", "2", body=[
        batch_spec(CHANNEL, ("a:0", "one"), ("a:1", "two")), batch_spec("other", ("b:0", "x"))])
    assert response.status_code == 201
    assert [item["successCount"] for item in response.items] == [1, 1]
    assert response.items[0]["results"][0]["channel"] == CHANNEL
    assert [m["id"] for m in server.published(CHANNEL)] == ["a:0", "a:1"]
    assert server.batch_requests == 1 and server.publish_requests == 1


def test_batch_partial_failure_is_400_40020_with_batch_response(server, make_client):
    server.fail_channel("refused", 401, 40160)
    response = make_client(use_binary_protocol=False).request("POST", "/messages", "2", body=[
        batch_spec(CHANNEL, ("a:0", "one")), batch_spec("refused", ("b:0", "x")),
        batch_spec(CHANNEL, ("c:0", "one"), ("d:1", "bad ids"))])
    assert response.status_code == 400 and response.error_code == "40020"
    [body] = response.items
    assert body["error"]["code"] == 40020
    results = body["batchResponse"]
    assert [r["failureCount"] for r in results] == [0, 1, 1]
    assert results[1]["results"][0]["error"]["code"] == 40160
    assert results[2]["results"][0]["error"]["code"] == 40031  # ids must share a base
    assert [m["id"] for m in server.published(CHANNEL)] == ["a:0"]


@pytest.mark.parametrize("body", [[], {"channels": [], "messages": [{}]},
                                  {"channels": "x"}, [{"channels": ["x"], "messages": [1]}]])
def test_malformed_batch_is_refused_whole(server, make_client, body):
    response = make_client().request("POST", "/messages", "2", body=body)
    assert response.status_code == 400
    assert server.published("x") == []


def test_batch_needs_publish_capability_per_channel(server, make_client):
    server.key_capability = {CHANNEL: ["publish"]}
    response = make_client().request("POST", "/messages", "2", body=[
        batch_spec(CHANNEL, ("a:0", "one")), batch_spec("elsewhere", ("b:0", "x"))])
    assert response.status_code == 400
    results = response.items[0]["batchResponse"]
    assert results[0]["failureCount"] == 0 and results[1]["results"][0]["error"]["code"] == 40160


def test_retry_after_header_on_request_failures(server, make_client):
    server.fail_with(429, 42910, times=1, retry_after=3)
    response = make_client().request("POST", "/messages", "2",
                                     body=batch_spec(CHANNEL, ("a:0", "n")))
    assert response.status_code == 429
    assert dict(response.headers)["retry-after"] == "3"


def test_de_duplication_is_limited_to_the_window(server, channel):
    assert server.dedup_window == 120.0  # Ably's, about two minutes
    server.dedup_window = 0.3
    message = Message(name="n", data="d", id="same:0")
    channel.publish(messages=[message])
    channel.publish(messages=[message])
    assert len(server.published(CHANNEL)) == 1 and server.duplicates == 1
    time.sleep(0.35)
    channel.publish(messages=[message])  # after the window: a new message for subscribers
    assert [m["id"] for m in server.published(CHANNEL)] == ["same:0", "same:0"]


def test_batch_publishes_are_de_duplicated_too(server, make_client):
    client = make_client()
    for _ in range(2):
        assert client.request("POST", "/messages", "2",
                              body=batch_spec(CHANNEL, ("a:0", "n"))).status_code == 201
    assert len(server.published(CHANNEL)) == 1 and server.duplicates == 1


def test_hold_acks_records_then_answers_504(server, make_client):
    server.hold_acks(0.2)
    response = make_client().request("POST", "/messages", "2",
                                     body=batch_spec(CHANNEL, ("a:0", "n")))
    assert response.status_code == 504
    assert [m["id"] for m in server.published(CHANNEL)] == ["a:0"]


def idle_connections(http: httpx.Client) -> int:
    """Connections httpx keeps for reuse (it drops those the server closes)."""
    return len(http._transport._pool.connections)


def test_keep_alive_answers_every_request_on_one_connection():
    with FakeAbly(keep_alive=True) as fake:
        with httpx.Client(base_url=fake.url) as http:
            for _ in range(3):
                reply = http.get("/time")
                assert reply.status_code == 200 and reply.http_version == "HTTP/1.1"
            assert idle_connections(http) == 1
        client = AblyRestSync(**fake.client_options())
        channel = client.channels.get(CHANNEL)
        channel.publish("first", "a")
        channel.publish("second", "b")
        client.close()
        assert [message["name"] for message in fake.published(CHANNEL)] == ["first", "second"]


def test_without_keep_alive_each_request_has_its_own_connection():
    with FakeAbly() as fake, httpx.Client(base_url=fake.url) as http:
        reply = http.get("/time")
        assert reply.status_code == 200 and reply.http_version == "HTTP/1.0"
        assert idle_connections(http) == 0
