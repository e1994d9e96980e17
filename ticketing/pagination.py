"""Sorting and the two pagination styles: page numbers, and keyset cursors.

A cursor names the sort it belongs to and the (sort value, id) of the last record returned;
the next page is the rows after that pair in index order, so page 10,000 costs what page 1 does.
"""

import base64
import enum
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Select, bindparam, func, literal_column, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from .errors import Unprocessable
from .schemas.common import check_storable

# Page numbers count the matching rows, but never more than this many: a count reads every row
# it counts (100 ms for a million), so an uncapped one makes every list as slow as its table is
# large, while "more than 1,000" serves a reader as well as the exact figure. 1,001 index entries
# cost about 0.2 ms; `total_exact` in the response says whether `total` is the exact count.
COUNT_LIMIT = 1_000


@dataclass(frozen=True)
class Sort:
    key: str  # as given in the query string, e.g. "-created_at"
    column: ColumnElement
    id_column: ColumnElement

    @property
    def descending(self) -> bool:
        return self.key.startswith("-")

    @property
    def attribute(self) -> str:
        return self.key.lstrip("-")

    def order_by(self) -> tuple:
        if self.descending:
            return self.column.desc(), self.id_column.desc()
        return self.column.asc(), self.id_column.asc()

    def after(self, value: Any, last_id: uuid.UUID) -> ColumnElement:
        """Rows strictly after (value, last_id) in this sort's order."""
        row = tuple_(self.column, self.id_column)
        anchor = tuple_(bindparam(None, value, type_=self.column.type),
                        bindparam(None, last_id, type_=self.id_column.type))
        return row < anchor if self.descending else row > anchor


def make_sort(model, key: str) -> Sort:
    return Sort(key, getattr(model, key.lstrip("-")), model.id)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def encode_token(text: str) -> str:
    """URL-safe, unpadded base64: opaque to clients, safe in query strings."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """Reverse encode_token; raises ValueError (binascii.Error, UnicodeDecodeError) if bad."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def encode_cursor(sort: Sort, record: Any) -> str:
    payload = {"s": sort.key, "v": _plain(getattr(record, sort.attribute)), "i": str(record.id)}
    return encode_token(json.dumps(payload, separators=(",", ":")))


def _invalid_cursor(reason: str) -> Unprocessable:
    return Unprocessable("Invalid cursor", {"cursor": [reason]})


def _typed_value(sort: Sort, value: Any) -> Any:
    python_type = sort.column.type.python_type
    if not isinstance(value, str):
        raise TypeError("cursor values are strings")
    if python_type is datetime:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python would accept.
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return python_type(check_storable(value))


def decode_cursor(sort: Sort, cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        payload = json.loads(decode_token(cursor))
        if payload["s"] != sort.key:
            raise _invalid_cursor("This cursor belongs to another sort order.")
        return _typed_value(sort, payload["v"]), uuid.UUID(payload["i"])
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError,
            ValidationError) as error:
        raise _invalid_cursor("Not a cursor returned by this API.") from error


def paginate(session: Session, stmt: Select, sort: Sort, args: dict) -> tuple[list, dict]:
    """Run `stmt` for one page chosen by `args` (page/per_page or cursor/per_page)."""
    if "cursor" in args:
        return _cursor_page(session, stmt, sort, args["cursor"], args["per_page"])
    return _numbered_page(session, stmt, sort, args.get("page", 1), args["per_page"])


def _fetch(session: Session, stmt: Select) -> list:
    """Entities for a select of one entity; rows for a Core select of columns (tickets)."""
    result = session.execute(stmt)
    return result.scalars().all() if len(stmt.column_descriptions) == 1 else result.all()


def _cursor_page(session, stmt, sort, cursor, per_page):
    value, last_id = decode_cursor(sort, cursor)
    page_stmt = stmt.where(sort.after(value, last_id)).order_by(*sort.order_by())
    records, next_cursor = page_of(_fetch(session, page_stmt.limit(per_page + 1)), sort, per_page)
    return records, {"per_page": per_page, "next_cursor": next_cursor}


def capped_count(stmt: Select, limit: int | ColumnElement) -> Select:
    """`SELECT count(*)` of the rows `stmt` matches, reading at most `limit` of them (a number,
    or a bound parameter where the statement is compiled once)."""
    rows = (stmt.order_by(None)
            .with_only_columns(literal_column("1"), maintain_column_froms=True)
            .limit(limit).subquery())
    return select(func.count()).select_from(rows)


def page_of(rows: list, sort: Sort, per_page: int) -> tuple[list, str | None]:
    """A page's records from up to `per_page` + 1 rows, and the cursor of the next page when
    the extra row says one follows (whatever a count reached)."""
    records = rows[:per_page]
    return records, encode_cursor(sort, records[-1]) if len(rows) > per_page else None


def numbered(page: int, per_page: int, counted: int, next_cursor: str | None) -> dict:
    """A numbered page's pagination, from a count that read at most COUNT_LIMIT + 1 rows:
    above COUNT_LIMIT the total is COUNT_LIMIT and not exact."""
    total = min(counted, COUNT_LIMIT)
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_exact": counted <= COUNT_LIMIT,
        "total_pages": math.ceil(total / per_page),
        "next_cursor": next_cursor,
    }


def _numbered_page(session, stmt, sort, page, per_page):
    counted = session.scalar(capped_count(stmt, COUNT_LIMIT + 1))
    page_stmt = stmt.order_by(*sort.order_by()).limit(per_page + 1).offset((page - 1) * per_page)
    records, next_cursor = page_of(_fetch(session, page_stmt), sort, per_page)
    return records, numbered(page, per_page, counted, next_cursor)
