"""`flask auth create-key` (bootstrapping, scripts) and `flask auth dev-key` (make run only)."""

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from .actor import SYSTEM
from .roles import Role

auth_cli = AppGroup("auth", help="API keys and access control.")


def issue_key(name: str, role: Role, expires_in_days: int | None) -> str:
    from ..services.api_keys import create_key

    with Session(current_app.extensions["db"].engine) as session:
        _key, secret = create_key(session, {"name": name, "role": role,
                                            "expires_in_days": expires_in_days}, SYSTEM)
        session.commit()
    return secret


@auth_cli.command("create-key")
@click.option("--name", required=True, help="What the key is for, e.g. zapier-sync.")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
def create_key_command(name: str, role: str, expires_in_days: int | None) -> None:
    """Create an API key; its secret is the last line of standard output, shown once."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise click.BadParameter("must be 1-100 characters", param_hint="--name")
    secret = issue_key(name, Role(role), expires_in_days)
    click.echo(f"Created {role} API key {name!r}. It is shown once; store it now:", err=True)
    click.echo(secret)


@auth_cli.command("dev-key")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              default=".dev-api-key", show_default=True)
def dev_key_command(path: Path) -> None:
    """For `make run`: with no API key in the database yet, create an admin key into FILE."""
    from ..services.api_keys import any_key_exists

    with Session(current_app.extensions["db"].engine) as session:
        if any_key_exists(session):
            if path.exists():
                click.echo(f"API key for curl: {path} (Authorization: Bearer $(cat {path}))")
            return
    secret = issue_key("make run", Role.ADMIN, None)
    # Created readable by its owner only, never briefly by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC
    click.echo(f"Created an admin API key for local use, saved to {path}: {secret}")
