"""`flask db ...`: a thin wrapper over alembic.command, using the app's database URL."""

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.exc import InterfaceError, OperationalError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ROOT = Path(__file__).resolve().parent.parent

# Alembic announces its built-in plugins at INFO when first imported. It used to be imported
# before logging was set up, where that went nowhere; now (below, and by /readyz) it is not.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

db_cli = AppGroup("db", help="Database migrations (Alembic).")


def alembic_config(app: Flask | None = None) -> "AlembicConfig":
    """Alembic settings from alembic.ini, pointed at the app's migration URL."""
    from alembic.config import Config as AlembicConfig

    app = app or current_app
    config = AlembicConfig(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    url = app.config.get("MIGRATIONS_DATABASE_URL") or app.config["DATABASE_URL"]
    # Passed as an attribute: alembic.ini values go through configparser, which mangles "%".
    config.attributes["url"] = url
    config.attributes["engine_config"] = app.config
    return config


def alembic_command():
    """alembic.command, imported when a `flask db` command runs.

    Every process that builds the app registers these commands; a web worker never runs one,
    and Alembic (with Mako) is 8 MB of its memory.
    """
    from alembic import command

    return command


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
def upgrade(revision: str, sql: bool) -> None:
    """Upgrade the database to REVISION (default: head)."""
    alembic_command().upgrade(alembic_config(), revision, sql=sql)


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
def downgrade(revision: str, sql: bool) -> None:
    """Downgrade the database to REVISION (default: one step back; `base` for empty)."""
    alembic_command().downgrade(alembic_config(), revision, sql=sql)


@db_cli.command("current")
@click.option("-v", "--verbose", is_flag=True)
def current(verbose: bool) -> None:
    """Show the revision the database is at."""
    alembic_command().current(alembic_config(), verbose=verbose)


@db_cli.command("history")
@click.option("-v", "--verbose", is_flag=True)
def history(verbose: bool) -> None:
    """List the migrations."""
    alembic_command().history(alembic_config(), verbose=verbose)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
def revision(message: str, autogenerate: bool) -> None:
    """Create a new migration."""
    alembic_command().revision(alembic_config(), message=message, autogenerate=autogenerate)


@db_cli.command("check")
def check() -> None:
    """Fail when the models and the migrations have drifted apart."""
    alembic_command().check(alembic_config())


def register_cli(app: Flask) -> None:
    from .auth.cli import auth_cli
    from .idempotency.cli import idempotency_cli
    from .search_cli import search_cli

    app.cli.add_command(db_cli)
    app.cli.add_command(auth_cli)
    app.cli.add_command(idempotency_cli)
    app.cli.add_command(search_cli)
    for command_ in _commands(app.cli):
        command_.callback = _one_line_database_errors(command_.callback)


def _commands(group: click.Group):
    for command_ in group.commands.values():
        if isinstance(command_, click.Group):
            yield from _commands(command_)
        elif command_.callback is not None:
            yield command_


def _one_line_database_errors(callback):
    """A database that cannot be reached is one line on stderr, not a 40-line traceback."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, InterfaceError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise click.ClickException(f"database error: {reason}") from None

    return run
