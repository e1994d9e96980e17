"""Declarative base, engine and the per-request session."""

import contextlib
import select
from collections.abc import Iterator

from flask import Flask, current_app, g
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .config import normalize_database_url

# Stable constraint names, so migrations can refer to them (Alembic "Naming Constraints").
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def engine_options(config) -> dict:
    """Pool and libpq settings; see README "Connecting to Supabase" for the reasoning."""
    connect_args = {
        "connect_timeout": config["DB_CONNECT_TIMEOUT"],
        "application_name": "ticketing",
        # TCP keepalives notice a database that vanished without closing the socket.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if config["DB_POOLER_MODE"] != "transaction":
        timeout = config["DB_STATEMENT_TIMEOUT_MS"]
        connect_args["options"] = f"-c statement_timeout={timeout}"
    return {
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "pool_recycle": config["DB_POOL_RECYCLE"],
        # No `SELECT 1` per checkout (14% of a POST's time): _discard_closed_connections instead.
        "pool_pre_ping": False,
        # Error messages and logs show statements, not their values (search text, emails).
        "hide_parameters": not config.get("DEBUG", False),
        "connect_args": connect_args,
    }


def make_engine(config, url: str | None = None, **options) -> Engine:
    """Build the engine for `url` (the app's DATABASE_URL by default); connects lazily.

    `options` override engine_options (the read pool's size and isolation level)."""
    url = normalize_database_url(url or config["DATABASE_URL"])
    engine = create_engine(url, **(engine_options(config) | options))
    _discard_closed_connections(engine)
    if config["DB_POOLER_MODE"] == "transaction":
        _set_statement_timeout_per_transaction(engine, config["DB_STATEMENT_TIMEOUT_MS"])
    return engine


def closed_by_server(dbapi_connection) -> bool:
    """Whether the server has hung up on an idle connection, without a round trip.

    An idle connection has nothing to read: a server that restarts, a pooler's idle timeout or
    pg_terminate_backend() send a last message and close the socket, which makes it readable.
    A zero-timeout poll() sees that in about a microsecond. (Should anything unasked-for ever
    arrive on a healthy idle connection, the cost is one needless reconnect.)
    """
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _discard_closed_connections(engine: Engine) -> None:
    """Swap a pooled connection the server closed for a fresh one before any work is done.

    Raising DisconnectionError at checkout makes the pool drop that connection and check out
    another (a new one when none is left), up to three times, so the request that follows a
    PostgreSQL restart succeeds. A connection that dies silently (a network cut, no FIN) still
    fails its first statement; that request answers 503 and SQLAlchemy then invalidates the
    whole pool, so the next requests reconnect.
    """

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, _record, _proxy) -> None:
        if closed_by_server(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")


def _set_statement_timeout_per_transaction(engine: Engine, timeout_ms: int) -> None:
    """A transaction pooler drops session settings, so apply the timeout inside each transaction."""

    @event.listens_for(engine, "begin")
    def _set_timeout(connection: Connection) -> None:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")


class DatabaseState:
    """One app's engine and session factory."""

    def __init__(self, config) -> None:
        # create_engine opens no connection, so nothing is shared across gunicorn's fork.
        self.engine = make_engine(config)
        # Database.reader's connections: a pool of their own, in autocommit mode from the
        # moment they connect. Borrowing the main pool's connections in autocommit mode
        # (execution_options) costs two round trips per read, switching there and back.
        # DB_READ_POOL_SIZE=0: none, reads run in the session's transactions.
        self.autocommit_engine = make_engine(
            config, isolation_level="AUTOCOMMIT", pool_size=config["DB_READ_POOL_SIZE"],
            max_overflow=0) if config["DB_READ_POOL_SIZE"] else None
        # A transaction pooler needs the statement timeout set in each transaction.
        self.timeout_per_transaction = config["DB_POOLER_MODE"] == "transaction"
        self.unbind()

    def dispose(self) -> None:
        """Close every pooled connection (both pools)."""
        for engine in self.engines:
            engine.dispose()

    @property
    def engines(self) -> list[Engine]:
        return [engine for engine in (self.engine, self.autocommit_engine) if engine]

    def bind(self, connection: Connection) -> None:
        """Run every session inside `connection`'s transaction (tests roll it back)."""
        self.bound = connection
        self.sessionmaker = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def unbind(self) -> None:
        """Give every session its own pooled connection (the normal mode)."""
        self.bound: Connection | None = None
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def new_session(self) -> Session:
        return self.sessionmaker()

    @property
    def reads_outside_transactions(self) -> bool:
        """Whether reads may run on the autocommit pool (see Database.reader)."""
        return (self.bound is None and not self.timeout_per_transaction
                and self.autocommit_engine is not None)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session | Connection]:
        """Database.reader for code that runs outside Flask's request (api/fast_path.py): an
        autocommit connection, or else a session of its own, closed at the end."""
        if self.reads_outside_transactions:
            with self.autocommit_engine.connect() as connection:
                yield connection
        else:
            with self.new_session() as session:
                yield session


class Database:
    """Flask extension: the current app's engine and one lazily opened session per app context."""

    def init_app(self, app: Flask) -> DatabaseState:
        if not app.config.get("DATABASE_URL"):
            raise RuntimeError("DATABASE_URL is not set")
        state = app.extensions["db"] = DatabaseState(app.config)
        app.teardown_appcontext(self._close_session)
        return state

    @property
    def state(self) -> DatabaseState:
        return current_app.extensions["db"]

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = self.state.new_session()
        return g.db_session

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session | Connection]:
        """Where a request that changes nothing runs its reads: outside any transaction.

        An autocommit connection sends each statement alone: a GET by id is one round trip
        instead of BEGIN, SELECT and ROLLBACK. Nothing a reader sees changes: under READ
        COMMITTED every statement takes its own snapshot anyway. The request's session instead
        when it is already in a transaction (looking up the credential opened one), when a
        transaction pooler needs the statement timeout set per transaction, or when the tests
        run everything inside one rolled-back transaction (`bind`).
        """
        session = g.get("db_session")
        if not self.state.reads_outside_transactions or (
                session is not None and session.in_transaction()):
            yield self.session
            return
        with self.state.reader() as connection:
            yield connection

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()
