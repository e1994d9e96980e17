"""The http report: medians over rounds, and shares from the runs of the same round."""

from bench.tables import print_http
from bench.throughput import HttpFigures


def run(server: str, scenario: str, rate: float, round_: int, p99_ms: float = 50.0,
        non_2xx: int = 0) -> HttpFigures:
    return HttpFigures(server, "2x4 gthread", scenario, int(rate * 10), 10.0, 10.0, p99_ms,
                       p99_ms, non_2xx, 0, {"server": 1e6 / rate, "postgres": 100.0}, round_)


def report(capsys, results: list[HttpFigures]) -> dict[str, str]:
    """The table's rows by "server request" ("app + realtime post", say)."""
    print_http(results, "test")
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        server = next((name for name in ("app + realtime", "floor", "app")
                       if line.startswith(name + " ")), None)
        if server:
            rows[f"{server} {'post' if 'POST' in line else 'get'}"] = line
    return rows


def gets(*rounds: tuple[float, float]) -> list[HttpFigures]:
    """GET by id runs of the floor and the app: (floor's req/s, app's req/s) per round."""
    return [run(server, "get", rate, round_) for round_, rates in enumerate(rounds)
            for server, rate in zip(("floor", "app"), rates, strict=True)]


def test_a_busy_round_weighs_on_both_sides_of_its_share(capsys):
    # Round 1 ran on a busy machine: both servers at half speed. Each round's share is 80%.
    rows = report(capsys, gets((1000, 800), (500, 400), (1000, 800)))
    assert " 800 " in rows["app get"] and " 80% " in rows["app get"]
    assert "ok (>= 75%)" in rows["app get"]


def test_the_share_is_the_median_of_the_rounds(capsys):
    rows = report(capsys, gets((1000, 900), (1000, 500), (1000, 800)))
    # Not the mean (73%): one slow round does not decide the verdict.
    assert " 80% " in rows["app get"] and "ok (>= 75%)" in rows["app get"]


def test_realtime_loss_and_p99_and_failures(capsys):
    results = [run("floor", "get", 1000, 0), run("floor", "post", 500, 0),
               run("app", "post", 400, 0, p99_ms=80), run("app + realtime", "post", 300, 0,
                                                         p99_ms=150, non_2xx=2)]
    rows = report(capsys, results)
    realtime = rows["app + realtime post"]
    assert "ok (>= 60%)" in realtime and "25% slower than off, OVER" in realtime
    assert "p99 OVER 100 ms" in realtime and "p99 OVER" not in rows["app post"]
    assert " 2 " in realtime
