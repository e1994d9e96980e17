"""The one place the benchmark gets its credential: an admin API key made with the app's CLI.

Every request the benchmark sends (http.client and wrk alike) carries infra.AUTH_HEADERS.
BENCH_AUTH=off sends none; the default, auto, makes a key when the app has `flask auth`
(access control) and sends nothing before it has.
"""

import os
import subprocess

from .infra import AUTH_HEADERS, ROOT, VENV_BIN, app_env


def has_auth_cli(database_url: str) -> bool:
    result = subprocess.run([str(VENV_BIN / "flask"), "auth", "--help"], cwd=ROOT,
                            env=app_env(database_url, {}), capture_output=True, text=True)
    return result.returncode == 0


def create_key(database_url: str) -> str:
    """`flask auth create-key --name bench --role admin` prints the secret on its last line."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "auth", "create-key", "--name", "bench", "--role", "admin"],
        cwd=ROOT, env=app_env(database_url, {}), capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1].strip()


def authorize(database_url: str) -> str:
    """Fill AUTH_HEADERS for this run's database; say what was done."""
    AUTH_HEADERS.clear()
    mode = os.environ.get("BENCH_AUTH", "auto")
    if mode == "off" or (mode == "auto" and not has_auth_cli(database_url)):
        return "none (the app has no access control yet)" if mode == "auto" else "none"
    AUTH_HEADERS["Authorization"] = f"Bearer {create_key(database_url)}"
    return "an admin API key (flask auth create-key)"
