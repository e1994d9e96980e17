"""`flask idempotency purge`: delete expired Idempotency-Key records."""

import click
from flask.cli import AppGroup

from ..db import db
from .store import PURGE_BATCH, purge_expired

idempotency_cli = AppGroup("idempotency", help="Idempotency-Key records.")


@idempotency_cli.command("purge")
@click.option("--batch-size", default=PURGE_BATCH, show_default=True, type=click.IntRange(1))
def purge(batch_size: int) -> None:
    """Delete expired keys in batches (serving processes also delete a batch now and then)."""
    click.echo(f"Deleted {purge_expired(db.session, batch_size)} expired idempotency keys.")
