"""Smoke test of the production stack: deploy/nginx.conf -> gunicorn.conf.py -> PostgreSQL.

Everything is real and local: a scratch database (on TEST_DATABASE_URL's server, else the
embedded development server), gunicorn started the way systemd starts it, and nginx running
deploy/nginx.conf itself, rewritten only where it has to be (ports, paths, a self-signed
certificate for the TLS block). Every socket is on 127.0.0.1.

Skipped when the nginx binary is missing (CI: `apt-get install -y nginx openssl`).
"""

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from ..dbutil import create_scratch_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def find_nginx() -> str | None:
    # Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


NGINX = find_nginx()
OPENSSL = shutil.which("openssl")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx)"),
    pytest.mark.skipif(OPENSSL is None, reason="openssl not installed (apt-get install openssl)"),
]

MAX_BODY = 1024 * 1024  # client_max_body_size 1m == the app's MAX_CONTENT_LENGTH default
NGINX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
# Added by the test next to every `add_header X-Request-ID ...`: the id the app echoed,
# which proves nginx passed the same id upstream.
UPSTREAM_ID_HEADER = "X-Upstream-Request-ID"


# ---- helpers -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, message: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def libpq_url(url: str) -> str:
    """A URL psycopg2 accepts (no SQLAlchemy `+driver`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def child_pids(parent: int) -> set[int]:
    """Live children of a process, from /proc (gunicorn's workers)."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(entry))
    return children


def assert_envelope(response: httpx.Response, status: int | tuple, ok: bool) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["status"] is ok, body
    assert isinstance(body["message"], str) and body["message"], body
    if ok:
        assert "errors" not in body, body
    else:
        assert isinstance(body["errors"], dict), body
    return body


# ---- scratch database --------------------------------------------------------------------

class ScratchDatabase:
    """A database of its own, on TEST_DATABASE_URL's server or the embedded one."""

    def __init__(self) -> None:
        self.url: str | None = None

    def create(self) -> str:
        self.url = create_scratch_database("ticketing_smoke")
        return self.url

    def flask(self, *args: str) -> str:
        env = {**os.environ, "FLASK_APP": "ticketing:create_app", "DATABASE_URL": self.url}
        env.pop("MIGRATIONS_DATABASE_URL", None)
        flask = Path(sys.executable).with_name("flask")
        result = subprocess.run(
            [str(flask), *args], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def migrate(self) -> None:
        self.flask("db", "upgrade")

    def create_key(self) -> str:
        """An admin key made as an operator would, with the CLI (its last line is the secret)."""
        return self.flask("auth", "create-key", "--name", "smoke", "--role", "admin"
                          ).strip().splitlines()[-1]

    def connect(self):
        connection = psycopg2.connect(libpq_url(self.url), connect_timeout=5)
        connection.autocommit = True
        return connection

    def drop(self) -> None:
        if self.url is not None:
            drop_database(self.url)


# ---- gunicorn ------------------------------------------------------------------------------

class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` from the repository root, as systemd runs it."""

    def __init__(self, port: int, database_url: str, log_path: Path) -> None:
        self.port = port
        self.database_url = database_url
        self.log_path = log_path
        self.threads = 1  # GUNICORN_THREADS: 1 is the sync worker, more the gthread worker
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict:
        env = dict(os.environ)
        # Nothing from the developer's shell may point the app elsewhere (or at Ably).
        for name in ("PORT", "API_PREFIX", "MAX_CONTENT_LENGTH", "PROXY_HOPS", "ABLY_API_KEY",
                     "ABLY_ENDPOINT", "MIGRATIONS_DATABASE_URL", "GUNICORN_THREADS",
                     "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE"):
            env.pop(name, None)
        env.update({
            "DATABASE_URL": self.database_url,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": str(self.threads),
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "text",
            # As deploy/ticketing.env.example says: nginx in front.
            "PROXY_HOPS": "1",
            "RATE_LIMITS_ENABLED": "false",  # these tests send more than an address may
        })
        return env

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        wait_until(self._healthy, 30, f"gunicorn /healthz\n{tail(self.log_path)}", 0.1)
        wait_until(lambda: len(self.workers()) == 2, 10, "two gunicorn workers")

    def _healthy(self) -> bool:
        if not self.running:
            raise AssertionError(f"gunicorn exited early:\n{tail(self.log_path)}")
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2,
                                 trust_env=False)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def workers(self) -> set[int]:
        return child_pids(self.pid) if self.running else set()

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def restart(self, threads: int) -> None:
        self.stop()
        self.threads = threads
        self.start()

    def stop(self, timeout: float = 40) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


# ---- nginx -------------------------------------------------------------------------------

def replace(text: str, pattern: str, new: str, count: int = 1, flags: int = re.M) -> str:
    """re.subn that insists the real config still has what the rewrite expects."""
    result, found = re.subn(pattern, new, text, flags=flags)
    assert found == count, (
        f"deploy/nginx.conf changed: expected {count} match(es) of {pattern!r}, found {found}")
    return result


def site_config(app_port: int, http_port: int, tls_port: int, workdir: Path) -> str:
    """deploy/nginx.conf with ports, paths and certificate pointed at the test's own."""
    text = NGINX_CONF.read_text()
    text = replace(text, r"^(\s*server\s+)127\.0\.0\.1:8000;", rf"\g<1>127.0.0.1:{app_port};")
    text = replace(text, r"^(\s*listen\s+)80;", rf"\g<1>127.0.0.1:{http_port};")
    text = replace(text, r"^\s*listen\s+\[::\]:80;\n", "")

    def enable_tls(match: re.Match) -> str:
        block = re.sub(r"^(\s*)# ?", r"\1", match.group(1), flags=re.M)
        block = replace(block, r"^(\s*listen\s+)443 ssl;", rf"\g<1>127.0.0.1:{tls_port} ssl;")
        block = replace(block, r"^\s*listen\s+\[::\]:443 ssl;\n", "")
        block = replace(block, r"^(\s*ssl_certificate\s+)\S+;", rf"\g<1>{workdir}/cert.pem;")
        block = replace(block, r"^(\s*ssl_certificate_key\s+)\S+;", rf"\g<1>{workdir}/key.pem;")
        return block

    text, found = re.subn(r"^\s*# BEGIN TLS\n(.*?)^\s*# END TLS\n", enable_tls, text,
                          flags=re.M | re.S)
    assert found == 1, "deploy/nginx.conf: no '# BEGIN TLS' ... '# END TLS' block"
    text = replace(text, r"^(\s*access_log\s+)/\S+", rf"\g<1>{workdir}/access.log")
    text = replace(text, r"^(\s*error_log\s+)/\S+", rf"\g<1>{workdir}/error.log")
    text = replace(
        text, r"^(\s*)(add_header X-Request-ID \$ticketing_request_id always;)$",
        rf"\1\2\n\1add_header {UPSTREAM_ID_HEADER} $upstream_http_x_request_id always;",
        count=len(re.findall(r"add_header X-Request-ID ", text)))
    directives = re.sub(r"#.*", "", text)
    for leftover in ("/var/log", "/etc/letsencrypt", ":8000", "[::]", " 80;", " 443 "):
        assert leftover not in directives, f"rewritten config still has {leftover!r}"
    return text


def main_config(site: str, workdir: Path) -> str:
    """Around the site: what a stock Debian/Ubuntu /etc/nginx/nginx.conf sets at http level,
    so a directive the drop-in must not repeat (gzip on, ...) fails here as it would there."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers need our temp dirs
    mime = Path("/etc/nginx/mime.types")
    types = f"include {mime};" if mime.exists() else "types { application/javascript js; }"
    temp = "\n".join(f"    {kind}_temp_path {workdir}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{
    worker_connections 512;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    {types}
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {workdir}/default.access.log;
    gzip on;
{temp}

# ---- deploy/nginx.conf (rewritten) ----
{site}
}}
"""


def nginx_version(binary: str) -> tuple[int, ...]:
    output = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    return tuple(int(part) for part in match.groups()) if match else (0, 0, 0)


class Nginx:
    def __init__(self, workdir: Path, app_port: int) -> None:
        self.workdir = workdir
        self.app_port = app_port
        self.http_port = free_port()
        self.tls_port = free_port()
        self.conf = workdir / "nginx.conf"
        self.process: subprocess.Popen | None = None

    def base_args(self) -> list[str]:
        args = [NGINX, "-p", f"{self.workdir}/", "-c", str(self.conf)]
        if nginx_version(NGINX) >= (1, 19, 5):  # -e: no attempt at /var/log/nginx/error.log
            args += ["-e", str(self.workdir / "error.log")]
        return args

    def write_config(self) -> None:
        subprocess.run(
            [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-keyout", str(self.workdir / "key.pem"), "-out", str(self.workdir / "cert.pem")],
            check=True, capture_output=True, timeout=30,
        )
        site = site_config(self.app_port, self.http_port, self.tls_port, self.workdir)
        self.conf.write_text(main_config(site, self.workdir))

    def test_config(self) -> str:
        result = subprocess.run([*self.base_args(), "-t"], capture_output=True, text=True,
                                timeout=30, check=False)
        assert result.returncode == 0, f"nginx -t failed:\n{result.stderr}\n{self.conf}"
        return result.stderr

    def start(self) -> None:
        with open(self.workdir / "nginx.stderr", "ab") as error_log:
            self.process = subprocess.Popen(
                [*self.base_args(), "-g", "daemon off;"], stdout=error_log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        wait_until(self._listening, 10, f"nginx listening\n{self.errors()}")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"nginx exited early:\n{self.errors()}")
        return port_open(self.http_port) and port_open(self.tls_port)

    def errors(self) -> str:
        return tail(self.workdir / "nginx.stderr") + "\n" + tail(self.workdir / "error.log")

    def access_log(self) -> list[dict]:
        path = self.workdir / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


# ---- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nginx-smoke")


@pytest.fixture(scope="module")
def database():
    database = ScratchDatabase()
    try:
        database.create()
        database.migrate()
        global API_KEY
        API_KEY = database.create_key()
        yield database
    finally:
        database.drop()


@pytest.fixture(scope="module")
def gunicorn_server(database, workdir):
    server = Gunicorn(free_port(), database.url, workdir / "gunicorn.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_server(gunicorn_server):
    """The module's gunicorn with the default sync workers, started again if a test
    stopped it or changed it."""
    if not gunicorn_server.running or gunicorn_server.threads != 1:
        gunicorn_server.restart(threads=1)
    return gunicorn_server


@pytest.fixture(scope="module")
def nginx(gunicorn_server, workdir):
    proxy = Nginx(workdir, gunicorn_server.port)
    try:
        proxy.write_config()
        proxy.test_config()
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


API_KEY = ""  # set by the `database` fixture


def make_client(base_url: str) -> httpx.Client:
    # trust_env=False: no HTTP(S)_PROXY from the environment, only 127.0.0.1.
    return httpx.Client(base_url=base_url, timeout=20, trust_env=False, verify=False,
                        headers={"Authorization": f"Bearer {API_KEY}"})


@pytest.fixture
def http(nginx, app_server):
    with make_client(f"http://127.0.0.1:{nginx.http_port}") as client:
        yield client


@pytest.fixture
def https(nginx, app_server):
    with make_client(f"https://127.0.0.1:{nginx.tls_port}") as client:
        yield client


def new_ticket(**overrides) -> dict:
    return {"title": "Printer on fire", "description": "Smoke everywhere", "priority": "high",
            **overrides}


# ---- configuration -----------------------------------------------------------------------

def test_nginx_accepts_the_config_without_warnings(nginx):
    output = nginx.test_config()
    assert "syntax is ok" in output and "test is successful" in output, output
    problems = [line for line in output.splitlines() if re.search(r"\[(warn|emerg|crit)\]", line)]
    assert not problems, "\n".join(problems)


def test_health_endpoints_through_nginx(http):
    response = http.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    response = http.get("/readyz")
    assert response.status_code in (200, 503), response.text
    assert response.headers["content-type"].startswith("application/json")


def test_metrics_are_not_public(http, app_server):
    assert_envelope(http.get("/metrics"), 404, ok=False)
    # ... but gunicorn still serves them to a local Prometheus.
    direct = httpx.get(f"http://127.0.0.1:{app_server.port}/metrics", trust_env=False, timeout=10)
    assert direct.status_code == 200, direct.text[:300]
    assert direct.headers["content-type"].startswith("text/plain")


# ---- the API through nginx ---------------------------------------------------------------

def test_ticket_crud(http, nginx):
    response = http.post("/api/tickets", json=new_ticket())
    created = assert_envelope(response, 201, ok=True)["data"]
    ticket_id = created["id"]
    assert response.headers["location"] == (
        f"http://127.0.0.1:{nginx.http_port}/api/tickets/{ticket_id}")
    assert created["priority"] == "high" and created["status"] == "open"

    listed = assert_envelope(http.get("/api/tickets", params={"per_page": 100}), 200, ok=True)
    assert ticket_id in {record["id"] for record in listed["data"]["records"]}

    fetched = assert_envelope(http.get(f"/api/tickets/{ticket_id}"), 200, ok=True)["data"]
    assert fetched == created

    response = http.patch(f"/api/tickets/{ticket_id}", json={"status": "in_progress",
                                                             "priority": "low"})
    updated = assert_envelope(response, 200, ok=True)["data"]
    assert (updated["status"], updated["priority"]) == ("in_progress", "low")
    assert updated["version"] == created["version"] + 1

    invalid = assert_envelope(http.post("/api/tickets", json={"title": ""}), (400, 422), ok=False)
    assert invalid["errors"], invalid

    assert_envelope(http.delete(f"/api/tickets/{ticket_id}"), 200, ok=True)
    assert_envelope(http.get(f"/api/tickets/{ticket_id}"), 404, ok=False)


def test_agent_crud(http, nginx):
    email = f"smoke-{uuid.uuid4().hex[:8]}@example.com"
    response = http.post("/api/agents", json={"name": "Ada Lovelace", "email": email})
    created = assert_envelope(response, 201, ok=True)["data"]
    agent_id = created["id"]
    assert response.headers["location"] == (
        f"http://127.0.0.1:{nginx.http_port}/api/agents/{agent_id}")

    listed = assert_envelope(http.get("/api/agents", params={"per_page": 100}), 200, ok=True)
    assert agent_id in {record["id"] for record in listed["data"]["records"]}
    assert assert_envelope(http.get(f"/api/agents/{agent_id}"), 200, ok=True)["data"] == created

    response = http.patch(f"/api/agents/{agent_id}", json={"name": "Grace Hopper"})
    assert assert_envelope(response, 200, ok=True)["data"]["name"] == "Grace Hopper"

    assert_envelope(http.delete(f"/api/agents/{agent_id}"), 200, ok=True)
    assert_envelope(http.get(f"/api/agents/{agent_id}"), 404, ok=False)


# ---- request id ----------------------------------------------------------------------------

def test_client_request_id_comes_back_unchanged(http):
    request_id = f"smoke-{uuid.uuid4()}"
    for response in (http.get("/api/tickets", headers={"X-Request-ID": request_id}),
                     http.get("/api/nowhere", headers={"X-Request-ID": request_id})):
        assert response.headers.get_list("x-request-id") == [request_id], response.headers


def test_request_id_is_generated_when_absent(http, nginx):
    first = http.get("/api/tickets").headers.get_list("x-request-id")
    second = http.get("/api/tickets").headers.get_list("x-request-id")
    assert len(first) == 1 and NGINX_REQUEST_ID.match(first[0]), first
    assert len(second) == 1 and second != first, second
    # A value that is not an id (spaces, too long) is replaced rather than passed on.
    junk = http.get("/api/tickets", headers={"X-Request-ID": "x" * 300}).headers["x-request-id"]
    assert NGINX_REQUEST_ID.match(junk), junk
    # nginx logs it too, so its access log joins the app's logs.
    wait_until(lambda: first[0] in {entry["request_id"] for entry in nginx.access_log()},
               5, "request id in nginx's access log")


def test_app_receives_the_same_request_id(http):
    """The app echoes the X-Request-ID it got: nginx forwards the very id it returns."""
    sent = http.get("/api/tickets", headers={"X-Request-ID": "smoke-upstream-1"})
    assert sent.headers.get(UPSTREAM_ID_HEADER) == "smoke-upstream-1", sent.headers
    generated = http.get("/api/tickets")
    assert generated.headers.get(UPSTREAM_ID_HEADER) == generated.headers["x-request-id"]


# ---- scheme, host and forwarded headers --------------------------------------------------

def test_location_uses_https_behind_the_tls_listener(https, nginx):
    response = https.post("/api/tickets", json=new_ticket())
    ticket_id = assert_envelope(response, 201, ok=True)["data"]["id"]
    assert response.headers["location"] == (
        f"https://127.0.0.1:{nginx.tls_port}/api/tickets/{ticket_id}")
    assert https.get(response.headers["location"]).status_code == 200


def test_location_uses_http_on_the_plain_listener(http, nginx):
    response = http.post("/api/tickets", json=new_ticket())
    ticket_id = assert_envelope(response, 201, ok=True)["data"]["id"]
    assert response.headers["location"] == (
        f"http://127.0.0.1:{nginx.http_port}/api/tickets/{ticket_id}")


def test_client_cannot_forge_forwarded_headers(http, nginx):
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/evil"}
    response = http.post("/api/tickets", json=new_ticket(), headers=forged)
    ticket_id = assert_envelope(response, 201, ok=True)["data"]["id"]
    assert response.headers["location"] == (
        f"http://127.0.0.1:{nginx.http_port}/api/tickets/{ticket_id}")


# ---- compression, caching, limits --------------------------------------------------------

def test_large_json_lists_are_gzipped(http):
    for number in range(3):
        body = new_ticket(title=f"Long ticket {number}", description="lorem ipsum " * 1500)
        assert_envelope(http.post("/api/tickets", json=body), 201, ok=True)
    params = {"per_page": 50, "q": "lorem"}
    # Read the raw bytes: httpx would otherwise decompress transparently.
    with http.stream("GET", "/api/tickets", params=params,
                     headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == "gzip", response.headers
    assert "accept-encoding" in response.headers.get("vary", "").lower()
    body = json.loads(gzip.decompress(raw))
    assert body["status"] is True and len(body["data"]["records"]) >= 3
    assert len(raw) * 5 < len(gzip.decompress(raw))

    plain = http.get("/api/tickets", params=params, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == body


def test_docs_assets_are_cached_and_compressed(http):
    response = http.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    cache_control = response.headers.get_list("cache-control")
    assert len(cache_control) == 1, cache_control
    assert "public" in cache_control[0] and "max-age=604800" in cache_control[0], cache_control
    assert response.headers.get("content-encoding") == "gzip"
    assert "SwaggerUIBundle" in response.text
    assert len(response.headers.get_list("x-request-id")) == 1

    assert http.get("/docs").status_code == 200
    spec = http.get("/openapi.json")
    assert spec.status_code == 200 and "/api/tickets" in spec.json()["paths"]


def _body_of_size(size: int) -> bytes:
    head, tail_ = b'{"title": "Big", "description": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail_)) + tail_


def test_body_over_one_mebibyte_is_a_json_413(http):
    headers = {"Content-Type": "application/json"}
    response = http.post("/api/tickets", content=_body_of_size(MAX_BODY + 1), headers=headers)
    body = assert_envelope(response, 413, ok=False)
    assert "too large" in body["message"].lower()
    assert len(response.headers.get_list("x-request-id")) == 1
    # Exactly at the limit both nginx and the app let it through (the schema then refuses
    # a 1 MiB description): the two limits agree.
    response = http.post("/api/tickets", content=_body_of_size(MAX_BODY), headers=headers)
    assert_envelope(response, (400, 422), ok=False)


# ---- restarts ----------------------------------------------------------------------------

def burst(base_url: str, total: int, threads: int, seconds: float, results: list) -> None:
    """`total` requests spread over `seconds`: GET list and POST create, mixed."""
    per_thread = total // threads
    interval = seconds / per_thread

    def run(worker: int) -> None:
        with make_client(base_url) as client:
            start = time.monotonic()
            for number in range(per_thread):
                time.sleep(max(0.0, start + number * interval - time.monotonic()))
                create = (number + worker) % 3 == 0
                try:
                    if create:
                        response = client.post("/api/tickets", json=new_ticket(
                            title=f"burst {worker}-{number}"))
                    else:
                        response = client.get("/api/tickets", params={"per_page": 5})
                    created = response.json()["data"]["id"] if response.status_code == 201 else None
                    results.append((create, response.status_code, created, None))
                except Exception as error:  # every failure is a finding
                    results.append((create, None, None, repr(error)))

    pool = [threading.Thread(target=run, args=(worker,)) for worker in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(seconds + 60)


@pytest.mark.parametrize("threads", [1, 4], ids=["sync", "gthread"])
def test_sighup_reload_drops_no_request(threads, nginx, gunicorn_server, database):
    """`systemctl reload` while traffic flows. Sync workers close every connection; gthread
    workers keep them alive, so nginx's upstream keepalive is exercised too."""
    app_server = gunicorn_server
    if not app_server.running or app_server.threads != threads:
        app_server.restart(threads)
    old_workers = app_server.workers()
    assert len(old_workers) == 2
    results: list = []
    base_url = f"http://127.0.0.1:{nginx.http_port}"
    started = time.monotonic()
    runner = threading.Thread(target=burst, args=(base_url, 300, 4, 5.0, results))
    runner.start()
    try:
        time.sleep(1.0)
        app_server.send(signal.SIGHUP)
        wait_until(lambda: len(app_server.workers()) == 2
                   and not app_server.workers() & old_workers,
                   20, f"workers replaced after SIGHUP\n{tail(app_server.log_path)}")
        reloaded_after = time.monotonic() - started
    finally:
        runner.join(70)
    burst_took = time.monotonic() - started
    assert len(results) == 300
    failures = [result for result in results if result[1] is None or result[1] >= 300]
    assert not failures, f"{len(failures)} failed: {failures[:5]}\n{nginx.errors()}"
    assert reloaded_after < burst_took, "the burst ended before the reload did"
    created = [result[2] for result in results if result[0]]
    assert len(created) == 100
    with contextlib.closing(database.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets WHERE id = ANY(%s::uuid[])", (created,))
        assert cursor.fetchone()[0] == len(created)


def test_sigterm_lets_accepted_requests_finish(nginx, app_server, database, http):
    """Two requests are held inside the app (a table lock in PostgreSQL keeps them waiting),
    gunicorn gets SIGTERM, then the lock goes: both must complete, then nginx answers 502 in
    the API's envelope."""
    base_url = f"http://127.0.0.1:{nginx.http_port}"
    title = f"in flight {uuid.uuid4().hex[:8]}"
    outcomes: dict = {}

    def call(name: str, method: str, path: str, **kwargs) -> None:
        with make_client(base_url) as client:
            try:
                outcomes[name] = client.request(method, path, **kwargs)
            except Exception as error:
                outcomes[name] = error

    locker = database.connect()
    locker.autocommit = False
    threads = []
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
        threads = [
            threading.Thread(target=call, args=("list", "GET", "/api/tickets")),
            threading.Thread(target=call, args=("create", "POST", "/api/tickets"),
                             kwargs={"json": new_ticket(title=title)}),
        ]
        for thread in threads:
            thread.start()
        with contextlib.closing(database.connect()) as observer:
            def waiting() -> bool:
                with observer.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND wait_event_type = 'Lock'")
                    return cursor.fetchone()[0] == 2
            wait_until(waiting, 10, "both requests waiting on the lock inside the app")

        log_offset = app_server.log_size()
        app_server.send(signal.SIGTERM)
        wait_until(lambda: "Handling signal: " in app_server.log_since(log_offset),
                   5, "gunicorn logging the signal")
        # The master signals its workers right after logging that line; the pause only
        # makes sure they have it before the lock goes (they act on it once the request
        # is answered, which is the point of the test).
        time.sleep(0.5)
        assert app_server.running, "gunicorn exited with requests in flight"
    finally:
        locker.rollback()
        locker.close()
        for thread in threads:
            thread.join(30)

    for name in ("list", "create"):
        outcome = outcomes.get(name)
        assert isinstance(outcome, httpx.Response), f"{name}: {outcome!r}"
    assert_envelope(outcomes["list"], 200, ok=True)
    assert_envelope(outcomes["create"], 201, ok=True)
    assert app_server.process.wait(35) == 0, tail(app_server.log_path)
    with contextlib.closing(database.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets WHERE title = %s", (title,))
        assert cursor.fetchone()[0] == 1

    # gunicorn is gone: nginx answers for it, in JSON, never with an HTML page.
    for method, path in (("GET", "/api/tickets"), ("POST", "/api/tickets"),
                         ("GET", "/docs/assets/swagger-ui-bundle.js")):
        response = http.request(method, path, json=new_ticket() if method == "POST" else None,
                                headers={"X-Request-ID": "smoke-down"})
        body = assert_envelope(response, (502, 503), ok=False)
        assert body == {"status": False, "message": "Service unavailable", "errors": {}}
        assert response.headers.get_list("x-request-id") == ["smoke-down"]
        assert response.headers.get("retry-after") == "5"
