"""Claims the project's files make: the lock file covers setup.cfg, the README matches the code."""

import configparser
import re
from pathlib import Path

from ticketing.config import Config

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(lines: str) -> set[str]:
    names = set()
    for line in lines.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_lock_pins_every_dependency_and_make_installs_from_it():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    wanted = (requirement_names(setup["options"]["install_requires"])
              | requirement_names(setup["options.extras_require"]["dev"]))
    lock = (ROOT / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", lock, re.M))
    assert wanted <= {name.lower().replace("_", "-") for name in pinned}
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --constraint $(LOCK) -e '.[dev]'" in makefile
    assert "--constraint requirements.lock" in (ROOT / "README.md").read_text()


def test_readme_readiness_example_shows_the_default_backlog_limit():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r'"max_pending": (\d+)', readme).group(1)
    assert int(shown) == Config().READY_MAX_PENDING_EVENTS


def test_readme_names_the_routes_and_messages_clients_meet(client, make_ticket):
    readme = (ROOT / "README.md").read_text()
    assert "`GET`, ably-js' default `authMethod`" in readme
    response = client.post("/api/tickets", json={
        "title": "t", "description": "d", "assigned_to": "00000000-0000-4000-8000-000000000000"})
    assert f"| `{response.json['message']}` / `{{\"assigned_to\": " in readme
    ticket = make_ticket()
    history = client.get(f"/api/tickets/{ticket['id']}/events?limit=1").json["data"]
    assert set(history["pagination"]) == {"per_page", "next_cursor"}
    assert '`{"per_page": <limit>, "next_cursor": "<version>"}`' in readme
