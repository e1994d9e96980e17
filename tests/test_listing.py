"""Listing tickets: filters, search, sorting and both pagination styles."""

from datetime import timedelta

import pytest

from ticketing import pagination as pagination_module

from .conftest import DATED_BASE

BASE = DATED_BASE  # dated_ticket's times start there
PRIORITY_ORDER = ["low", "medium", "high", "urgent"]
STATUS_ORDER = ["open", "in_progress", "resolved", "closed"]


def ids(client, query: str) -> list[str]:
    response = client.get(f"/api/tickets?{query}")
    assert response.status_code == 200, response.json
    return [ticket["id"] for ticket in response.json["data"]["records"]]


def test_default_order_is_newest_first(client, dated_ticket):
    created = [dated_ticket(days) for days in (1, 3, 2)]
    assert ids(client, "") == [created[1], created[2], created[0]]
    assert ids(client, "sort=created_at") == [created[0], created[2], created[1]]


def test_filters_combine(client, dated_ticket, make_agent):
    agent = make_agent()["id"]
    wanted = dated_ticket(1, status="open", priority="high", assigned_to=agent)
    dated_ticket(2, status="open", priority="low", assigned_to=agent)
    dated_ticket(3, status="closed", priority="high", assigned_to=agent)
    dated_ticket(4, status="open", priority="high")
    assert ids(client, f"status=open&priority=high&assigned_to={agent}") == [wanted]


def test_status_and_priority_take_several_values(client, dated_ticket):
    a = dated_ticket(1, status="open", priority="low")
    b = dated_ticket(2, status="resolved", priority="urgent")
    dated_ticket(3, status="closed", priority="medium")
    assert ids(client, "status=open,resolved&sort=created_at") == [a, b]
    assert ids(client, "priority=urgent,low&sort=created_at") == [a, b]


def test_assigned_to_none_lists_unassigned(client, dated_ticket, make_agent):
    unassigned = dated_ticket(1)
    dated_ticket(2, assigned_to=make_agent()["id"])
    assert ids(client, "assigned_to=none") == [unassigned]


def test_full_text_search_over_title_and_description(client, dated_ticket):
    login = dated_ticket(1, title="Cannot log in", description="Password rejected")
    printer = dated_ticket(2, title="Printer", description="Paper jams when logging pages")
    dated_ticket(3, title="Coffee machine", description="Empty")
    assert set(ids(client, "q=logging")) == {login, printer}
    assert ids(client, "q=password") == [login]
    assert ids(client, "q=printer%20-coffee") == [printer]
    assert ids(client, "q=%22paper%20jams%22") == [printer]
    assert ids(client, "q=nothing+matches+this") == []
    assert ids(client, "q=%26%7C%21(") == []  # tsquery operators are taken as text


def test_created_after_and_before(client, dated_ticket):
    created = [dated_ticket(days) for days in range(5)]
    after = (BASE + timedelta(days=1)).isoformat()
    before = (BASE + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    query = f"created_after={after.replace('+', '%2B')}&created_before={before}&sort=created_at"
    assert ids(client, query) == created[1:3]
    assert ids(client, "created_after=2026-01-04T00:00:00&sort=created_at") == created[3:]


@pytest.mark.parametrize("field, order", [("priority", PRIORITY_ORDER),
                                          ("status", STATUS_ORDER)])
def test_enum_sorts_follow_declared_order(client, make_ticket, field, order):
    for value in reversed(order):
        make_ticket(**{field: value})
    records = client.get(f"/api/tickets?sort={field}").json["data"]["records"]
    assert [r[field] for r in records] == order
    records = client.get(f"/api/tickets?sort=-{field}").json["data"]["records"]
    assert [r[field] for r in records] == order[::-1]


def test_ties_are_broken_by_id(client, make_ticket):
    created = sorted(make_ticket(priority="high")["id"] for _ in range(6))
    assert ids(client, "sort=priority") == created
    assert ids(client, "sort=-priority") == created[::-1]


def test_sort_by_title_and_updated_at(client, dated_ticket):
    b = dated_ticket(1, title="beta")
    a = dated_ticket(2, title="alpha")
    assert ids(client, "sort=title") == [a, b]
    assert ids(client, "sort=-updated_at") == [a, b]
    assert ids(client, "sort=updated_at") == [b, a]


def test_page_pagination(client, dated_ticket):
    created = [dated_ticket(days) for days in range(5)]
    response = client.get("/api/tickets?per_page=2&page=2&sort=created_at")
    data = response.json["data"]
    assert [t["id"] for t in data["records"]] == created[2:4]
    pagination = data["pagination"]
    assert {k: pagination[k] for k in ("page", "per_page", "total", "total_pages")} == {
        "page": 2, "per_page": 2, "total": 5, "total_pages": 3}
    assert pagination["next_cursor"]
    last = client.get("/api/tickets?per_page=2&page=3&sort=created_at").json["data"]
    assert [t["id"] for t in last["records"]] == created[4:]
    assert last["pagination"]["next_cursor"] is None
    beyond = client.get("/api/tickets?per_page=2&page=9").json["data"]
    assert beyond["records"] == [] and beyond["pagination"]["total"] == 5

    assert pagination["total_exact"] is True


def test_counting_stops_at_the_limit_and_says_so(client, dated_ticket, monkeypatch):
    monkeypatch.setattr(pagination_module, "COUNT_LIMIT", 3)
    created = [dated_ticket(days) for days in range(5)]
    data = client.get("/api/tickets?per_page=2&page=2&sort=created_at").json["data"]
    assert [t["id"] for t in data["records"]] == created[2:4]
    assert {k: data["pagination"][k] for k in ("total", "total_exact", "total_pages")} == {
        "total": 3, "total_exact": False, "total_pages": 2}
    # Past the counted pages, pages still come, and say whether another follows.
    assert data["pagination"]["next_cursor"]
    last = client.get("/api/tickets?per_page=2&page=3&sort=created_at").json["data"]
    assert [t["id"] for t in last["records"]] == created[4:]
    assert last["pagination"]["next_cursor"] is None
    # As many matches as the limit is still an exact count.
    exact = client.get("/api/tickets?status=open&per_page=2&created_after=2026-01-03").json
    assert {k: exact["data"]["pagination"][k] for k in ("total", "total_exact")} == {
        "total": 3, "total_exact": True}


def test_default_and_maximum_page_size(client):
    pagination = client.get("/api/tickets").json["data"]["pagination"]
    assert pagination["per_page"] == 20
    assert client.get("/api/tickets?per_page=100").status_code == 200
    response = client.get("/api/tickets?per_page=101")
    assert response.status_code == 422 and "per_page" in response.json["errors"]


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "priority", "-status", "title",
                                  "-updated_at"])
def test_cursor_walks_every_record_once_in_order(client, dated_ticket, sort):
    for days in range(7):
        dated_ticket(days % 3, priority=PRIORITY_ORDER[days % 4], title=f"t{days % 2}")
    expected = ids(client, f"sort={sort}&per_page=100")
    first = client.get(f"/api/tickets?sort={sort}&per_page=3").json["data"]
    seen = [t["id"] for t in first["records"]]
    cursor = first["pagination"]["next_cursor"]
    while cursor:
        data = client.get(f"/api/tickets?sort={sort}&per_page=3&cursor={cursor}").json["data"]
        assert set(data["pagination"]) == {"per_page", "next_cursor"}
        seen += [t["id"] for t in data["records"]]
        cursor = data["pagination"]["next_cursor"]
    assert seen == expected


def test_cursor_with_filters(client, dated_ticket):
    wanted = [dated_ticket(days, status="open") for days in range(4)]
    dated_ticket(1.5, status="closed")
    data = client.get("/api/tickets?status=open&per_page=2").json["data"]
    cursor = data["pagination"]["next_cursor"]
    rest = client.get(f"/api/tickets?status=open&per_page=2&cursor={cursor}").json["data"]
    assert [t["id"] for t in data["records"] + rest["records"]] == wanted[::-1]
    assert rest["pagination"]["next_cursor"] is None


@pytest.mark.parametrize("query, field", [
    ("status=done", "status"),
    ("status=", "status"),
    ("priority=high,extreme", "priority"),
    ("assigned_to=bob", "assigned_to"),
    ("sort=colour", "sort"),
    ("sort=-", "sort"),
    ("page=0", "page"),
    ("page=x", "page"),
    ("per_page=0", "per_page"),
    ("created_after=yesterday", "created_after"),
    ("created_after=2026-02-01T00:00:00Z&created_before=2026-01-01T00:00:00Z",
     "created_before"),
    ("cursor=garbage", "cursor"),
    ("page=2&cursor=abc", "cursor"),
    ("stauts=open", "stauts"),
])
def test_bad_query_parameters_are_422(client, query, field):
    response = client.get(f"/api/tickets?{query}")
    assert response.status_code == 422, response.json
    assert response.json["status"] is False
    assert field in response.json["errors"]


def test_cursor_from_another_sort_is_rejected(client, make_ticket):
    for _ in range(3):
        make_ticket()
    cursor = client.get("/api/tickets?per_page=1").json["data"]["pagination"]["next_cursor"]
    response = client.get(f"/api/tickets?per_page=1&sort=title&cursor={cursor}")
    assert response.status_code == 422
    assert response.json["errors"] == {"cursor": ["This cursor belongs to another sort order."]}


def test_one_status_and_priority_are_read_in_order_from_their_index(connection):
    from ticketing.models import TicketPriority, TicketStatus

    from .plans import explain_list

    plan = explain_list(connection, {"status": [TicketStatus.OPEN],
                                     "priority": [TicketPriority.HIGH]})
    # The page itself, not only its count, walks the index backwards: no sort, no filter.
    assert "Index Scan Backward using ix_tickets_status_priority_created_at_id" in plan, plan
    assert "Sort" not in plan and "Filter" not in plan, plan


def test_one_value_and_several_values_filter_alike(client, dated_ticket):
    open_high = dated_ticket(1, status="open", priority="high")
    dated_ticket(2, status="closed", priority="high")
    open_low = dated_ticket(3, status="open", priority="low")
    assert ids(client, "status=open&priority=high") == [open_high]
    assert ids(client, "status=open&priority=high,low") == [open_low, open_high]  # newest first
