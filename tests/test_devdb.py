"""The embedded PostgreSQL of `make run` and `make test`: a first run that just works."""

import socket

import psycopg2
import pytest

from ticketing.devdb import EmbeddedPostgres

from .serving import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def taken_port():
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        yield other.getsockname()[1]


def test_a_remembered_port_taken_since_falls_back_to_a_free_one(tmp_path, taken_port, capsys):
    (tmp_path / "pgdata.port").write_text(str(taken_port))
    server = EmbeddedPostgres(tmp_path / "pgdata")
    server.start()
    try:
        assert server.port != taken_port
        assert (tmp_path / "pgdata.port").read_text() == str(server.port)
        psycopg2.connect(server.url()).close()
        message = capsys.readouterr().err
        assert f"port {taken_port} is in use by another program; using {server.port}" in message
    finally:
        server.stop()


def test_an_explicit_port_in_use_is_a_one_line_error(tmp_path, taken_port):
    server = EmbeddedPostgres(tmp_path / "pgdata", taken_port)
    with pytest.raises(SystemExit) as exit_info:
        server.start()
    assert str(exit_info.value) == (f"embedded PostgreSQL: port {taken_port} is in use by "
                                    "another program; choose another with EMBEDDED_PG_PORT")


def test_a_free_explicit_port_is_used(tmp_path):
    port = free_port()
    server = EmbeddedPostgres(tmp_path / "pgdata", port)
    server.start()
    try:
        assert server.url().endswith(f":{port}/postgres")
        psycopg2.connect(server.url()).close()
    finally:
        server.stop()
