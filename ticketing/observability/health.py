"""/healthz (the process answers) and /readyz (it can serve: database, schema, realtime)."""

import time
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..auth import caller_is_trusted
from ..realtime.status import backlog

blp = Blueprint("health", __name__)

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


@cache
def head_revision() -> str | None:
    # Imported on the first /readyz with a database, not in every worker at start (8 MB).
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _check(session: Session, probe) -> dict:
    """Run one probe; a database error fails that check alone."""
    try:
        return probe(session)
    except SQLAlchemyError as error:
        session.rollback()
        return {"ok": False, "error": error.__class__.__name__}


def _database(session: Session) -> dict:
    started = time.perf_counter()
    session.execute(text("SELECT 1"))
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _migrations(session: Session) -> dict:
    current = session.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
    return {"ok": current == head_revision(), "current": current, "head": head_revision()}


def _realtime(session: Session) -> dict:
    report = backlog(session)
    limit = current_app.config["READY_MAX_PENDING_EVENTS"]
    # A key that may not publish is a configuration error: not ready until it is fixed.
    ok = report["pending"] < limit and report["config_error"] is None
    return {"ok": ok, "max_pending": limit, **report}


@blp.get("/readyz")
def readyz():
    with Session(current_app.extensions["db"].engine) as session:
        checks = {"database": _check(session, _database)}
        if checks["database"]["ok"]:
            checks["migrations"] = _check(session, _migrations)
            checks["realtime"] = _check(session, _realtime)
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "unavailable"}
    if shows_details():
        body["checks"] = checks
    return jsonify(body), 200 if ready else 503


def shows_details() -> bool:
    """Details (backlog, errors, revisions) for operators only: loopback or a credential."""
    try:
        return caller_is_trusted()
    except Exception:  # the database may be the very thing that is down
        return False
