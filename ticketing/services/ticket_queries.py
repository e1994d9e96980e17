"""Ticket reads as statements compiled once per query shape, run with the request's values.

A GET builds no statement: building a Core select and computing its cache key took a third of
a GET by id and of a list page. Instead each shape of query (which filters a request uses,
its sort, cursor or page number) is built once by SQLAlchemy, with named parameters for every
value, compiled and kept; a request only picks the SQL of its shape and runs it with its
values on the driver's cursor (ticketing/driver_sql.py). Rows come back as TicketRow tuples,
which the serializer reads twice as fast as Core rows.

A numbered page counts its matches in the same statement (a scalar subquery the page's first
row carries), so a list is one round trip.

A search for one word reads the ordered text index (models/search_term.py) instead of the GIN
indexes: the page walks that word's key range newest first, and the count reads its first
1,001 entries.
"""

import functools
import re
from collections import namedtuple
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    any_,
    bindparam,
    cast,
    func,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Grouping
from sqlalchemy.sql.sqltypes import NullType

from .. import pagination
from ..driver_sql import DriverStatement, fetch_all
from ..models import Comment, Ticket, TicketPriority, TicketSearchTerm, TicketStatus
from ..pagination import Sort, decode_cursor, make_sort

tickets = Ticket.__table__.c
terms = TicketSearchTerm.__table__.c
TICKET_COLUMNS = tuple(column for column in tickets if column.key != "search_vector")
TicketRow = namedtuple("TicketRow", [column.key for column in TICKET_COLUMNS])


def _as_read(column):
    """How a read selects `column`: ids as text, which the response shows anyway (the driver
    would parse each into a UUID for the serializer to turn back into text); tags as the
    driver's list, without SQLAlchemy's per-item array processing."""
    if isinstance(column.type, UUID):
        return cast(column, Text).label(column.key)
    if column is tickets.tags:
        return type_coerce(column, NullType()).label(column.key)
    return column


READ_COLUMNS = tuple(_as_read(column) for column in TICKET_COLUMNS)


_STATUS = READ_COLUMNS.index(tickets.status)
_PRIORITY = READ_COLUMNS.index(tickets.priority)
STATUSES = {member.value: member for member in TicketStatus}
PRIORITIES = {member.value: member for member in TicketPriority}


def ticket_row(values) -> TicketRow:
    """A driver row starting with the ticket's columns (READ_COLUMNS, or TICKET_COLUMNS as
    writes return them: the same columns in the same order) as a TicketRow, its enum columns
    as enums."""
    values = list(values[:len(READ_COLUMNS)])
    values[_STATUS] = STATUSES[values[_STATUS]]
    values[_PRIORITY] = PRIORITIES[values[_PRIORITY]]
    return TicketRow._make(values)


# ---- one ticket ------------------------------------------------------------------------------

BY_ID = DriverStatement.of(select(*READ_COLUMNS).where(tickets.id == bindparam("id")))


def ticket_by_id(reader: Session | Connection, ticket_id) -> TicketRow | None:
    rows = fetch_all(reader, BY_ID, {"id": str(ticket_id)})
    return ticket_row(rows[0]) if rows else None


# ---- filters ---------------------------------------------------------------------------------

def _one_of(column, how_many: str) -> ColumnElement[bool]:
    """`column = %(name)s` for one value; `column = ANY(%(name)s::type[])` for several.

    One value gets plain equality: PostgreSQL 15 walks a (status, priority, created_at) index
    in order only for equality, while `= ANY(...)` makes it filter rows off the date index
    (1 ms instead of 0.02 ms for a page of 20 among 10,000 tickets).
    """
    if how_many == "one":
        return column == bindparam(column.key)
    return column == any_(cast(bindparam(column.key), ARRAY(column.type)))


def _how_many(members) -> str:
    return "one" if len(members) == 1 else "several"


def _as_values(members) -> str | list[str]:
    values = [member.value for member in members]
    return values[0] if len(values) == 1 else values


def _as_is(value: Any) -> Any:
    return value


def _lowered(text: str) -> str:
    return text.lower()


@dataclass(frozen=True)
class Filter:
    """One query argument: the clause of each variant, and its parameter (None: none)."""

    clause: Callable[[Hashable], ColumnElement[bool]]
    param: Callable[[Any], Any] | None = None
    variant: Callable[[Any], Hashable] = lambda value: None


def text_matches(text) -> ColumnElement[bool]:
    """Tickets whose own text or comments match `text` (a string or a bound parameter); each
    side is served by its GIN index.

    `own match OR id = ANY(ids from matching comments)`, not `id IN (... UNION ...)`: a union
    collects every match before the first row comes out (1.2 s for a common word among a
    million tickets), while this lets PostgreSQL walk the date index and stop after a page, or
    OR the two index bitmaps for a rare word (a few ms either way).
    """
    query = func.websearch_to_tsquery("english", text)
    comments = Comment.__table__.c
    from_comments = select(comments.ticket_id).where(comments.search_vector.bool_op("@@")(query))
    # ARRAY(SELECT ...) runs once, and `= ANY(array)` can use the primary key index.
    in_comments = tickets.id == any_(func.array(from_comments.scalar_subquery()))
    return or_(tickets.search_vector.bool_op("@@")(query), in_comments)


# One word of ASCII letters and digits: to_tsvector makes it exactly one lexeme (none for a
# stop word), the one websearch_to_tsquery would look for. Anything else (several words,
# quotes, `-`, `or`, other scripts) is matched through the GIN indexes.
ONE_WORD = re.compile(r"\s*[A-Za-z0-9]+\s*")
# NULL (no row matches) for a stop word, as `@@` matches nothing for a query of stop words.
WORD_LEXEME = Grouping(type_coerce(  # (f(x))[1]: PostgreSQL indexes a call's result in parentheses
    func.tsvector_to_array(func.to_tsvector("english", bindparam("q"))), ARRAY(Text)))[1]


def _search_variant(text: str) -> str:
    return "word" if ONE_WORD.fullmatch(text) else "query"


FILTERS: dict[str, Filter] = {
    "status": Filter(lambda how_many: _one_of(tickets.status, how_many), _as_values,
                     variant=_how_many),
    "priority": Filter(lambda how_many: _one_of(tickets.priority, how_many), _as_values,
                       variant=_how_many),
    # `= id` / `IS NULL` rather than IS NOT DISTINCT FROM, which no index serves.
    "assigned_to": Filter(
        lambda unassigned: tickets.assigned_to.is_(None) if unassigned
        else tickets.assigned_to == bindparam("assigned_to"),
        str, variant=lambda value: value is None),
    # The "word" variant's clause is its join with the ordered text index (_matching).
    "q": Filter(lambda _: text_matches(bindparam("q")), str, variant=_search_variant),
    "requester_email": Filter(
        lambda _: func.lower(tickets.requester_email) == bindparam("requester_email"), _lowered),
    "tags": Filter(lambda _: tickets.tags.contains(cast(bindparam("tags"), tickets.tags.type)),
                   list),
    "tags_any": Filter(
        lambda _: tickets.tags.overlap(cast(bindparam("tags_any"), tickets.tags.type)), list),
    "has_public_reply": Filter(
        lambda replied: tickets.first_response_at.is_not(None) if replied
        else tickets.first_response_at.is_(None), variant=bool),
    "created_after": Filter(lambda _: tickets.created_at >= bindparam("created_after"), _as_is),
    "created_before": Filter(lambda _: tickets.created_at < bindparam("created_before"), _as_is),
}


def _given(args: dict, name: str) -> bool:
    # assigned_to and has_public_reply mean something when null or false; the others don't.
    return name in args if name in ("assigned_to", "has_public_reply") else bool(args.get(name))


def filter_shape(args: dict) -> tuple:
    """Which filters `args` uses, with their variants: the part of the SQL that varies."""
    return tuple((name, spec.variant(args[name])) for name, spec in FILTERS.items()
                 if _given(args, name))


def filter_params(args: dict) -> dict:
    return {name: spec.param(args[name]) for name, spec in FILTERS.items()
            if spec.param is not None and _given(args, name)}


def filter_clauses(shape: tuple) -> list[ColumnElement[bool]]:
    return [FILTERS[name].clause(variant) for name, variant in shape]


WORD_SEARCH = ("q", "word")  # a shape's item for a search of one word


def _by_word(shape: tuple, sort_key: str) -> bool:
    """Whether a page reads the word index: for one word in creation order. In another order
    PostgreSQL would join and sort all the word's tickets (0.6 s for a word in 1 ticket of 8
    among a million), where the GIN path walks that order's index (6 ms)."""
    return WORD_SEARCH in shape and sort_key.lstrip("-") == "created_at"


# ---- pages -----------------------------------------------------------------------------------

def _matching(shape: tuple, by_word: bool = False) -> Select:
    if not by_word:
        return select(*READ_COLUMNS).where(*filter_clauses(shape))
    others = tuple(item for item in shape if item[0] != "q")
    # Joined on the id alone: a second join condition on created_at made PostgreSQL expect a
    # single match, and sort all of them instead of walking the index.
    word_rows = TicketSearchTerm.__table__.join(Ticket.__table__, tickets.id == terms.ticket_id)
    return (select(*READ_COLUMNS).select_from(word_rows)
            .where(terms.term == WORD_LEXEME, *filter_clauses(others)))


def _sort(shape: tuple, sort_key: str) -> Sort:
    """The sort's columns; read by word, the index's copies of them, whose order the walk of
    the word's entries already has."""
    if _by_word(shape, sort_key):
        return Sort(sort_key, terms.created_at, terms.ticket_id)
    return make_sort(tickets, sort_key)


def _count_of(shape: tuple) -> Select:
    """Count the matches, reading at most `count_limit` of them (see pagination.py)."""
    limit = bindparam("count_limit", type_=Integer)
    if shape == (WORD_SEARCH,):
        # The word's index entries alone, one per ticket: no ticket row to read, whatever the
        # page's order.
        return pagination.capped_count(select(terms.ticket_id).where(terms.term == WORD_LEXEME),
                                       limit)
    return pagination.capped_count(_matching(shape), limit)


@functools.lru_cache(maxsize=512)
def numbered_page(shape: tuple, sort_key: str) -> DriverStatement:
    """The page's rows, each carrying the capped count of all matches (`matches`)."""
    sort = _sort(shape, sort_key)
    matching = _matching(shape, _by_word(shape, sort_key))
    counted = _count_of(shape).scalar_subquery().correlate(None).label("matches")
    page = (matching.add_columns(counted).order_by(*sort.order_by())
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))
    return DriverStatement.of(page)


@functools.lru_cache(maxsize=512)
def count_matches(shape: tuple) -> DriverStatement:
    return DriverStatement.of(_count_of(shape))


@functools.lru_cache(maxsize=512)
def cursor_page(shape: tuple, sort_key: str) -> DriverStatement:
    sort = _sort(shape, sort_key)
    row = tuple_(sort.column, sort.id_column)
    anchor = tuple_(bindparam("after_value", type_=sort.column.type),
                    bindparam("after_id", type_=sort.id_column.type))
    after = row < anchor if sort.descending else row > anchor
    page = (_matching(shape, _by_word(shape, sort_key)).where(after).order_by(*sort.order_by())
            .limit(bindparam("limit", type_=Integer)))
    return DriverStatement.of(page)


def list_page(reader: Session | Connection, args: dict) -> tuple[list[TicketRow], dict]:
    """The page of tickets `args` asks for (page/per_page or cursor/per_page)."""
    shape, params = filter_shape(args), filter_params(args)
    sort = make_sort(tickets, args["sort"])
    if "cursor" in args:
        return _cursor_page(reader, shape, params, sort, args)
    return _numbered_page(reader, shape, params, sort, args)


def _records(rows: list, sort: Sort, per_page: int) -> tuple[list[TicketRow], str | None]:
    """The page's tickets, and the cursor of the next page when one more row came back."""
    return pagination.page_of([ticket_row(row) for row in rows], sort, per_page)


def _cursor_page(reader, shape, params, sort, args):
    value, last_id = decode_cursor(sort, args["cursor"])
    if isinstance(value, TicketStatus | TicketPriority):
        value = value.value
    per_page = args["per_page"]
    rows = fetch_all(reader, cursor_page(shape, sort.key), {
        **params, "after_value": value, "after_id": str(last_id), "limit": per_page + 1})
    records, next_cursor = _records(rows, sort, per_page)
    return records, {"per_page": per_page, "next_cursor": next_cursor}


def _numbered_page(reader, shape, params, sort, args):
    page, per_page = args.get("page", 1), args["per_page"]
    params = {**params, "count_limit": pagination.COUNT_LIMIT + 1}
    # One row more than the page says whether another follows, whatever the count reached.
    rows = fetch_all(reader, numbered_page(shape, sort.key), {
        **params, "limit": per_page + 1, "offset": (page - 1) * per_page})
    if rows:
        counted = rows[0][-1]
    else:  # past the last page (or nothing matches): the count comes on its own
        counted = fetch_all(reader, count_matches(shape), params)[0][0] if page > 1 else 0
    records, next_cursor = _records(rows, sort, per_page)
    return records, pagination.numbered(page, per_page, counted, next_cursor)
