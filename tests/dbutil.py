"""Scratch databases for tests: on TEST_DATABASE_URL's server, else on the embedded one."""

import os

from ticketing import devdb


def server_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL", "").strip() or None


def create_scratch_database(prefix: str = "ticketing_test") -> str:
    return devdb.create_scratch_database(prefix, server_url())


def drop_database(url: str) -> None:
    devdb.drop_scratch_database(url, server_url())
