"""What checking a Supabase token and counting a rate limit cost, per request.

    .venv/bin/python bench/auth.py [--calls 2000] [--redis redis://127.0.0.1:6379/0]

Tokens: SupabaseTokens.verify with a warm key set (a local JWKS server, tests/jwks_server.py),
per algorithm; the credential cache in front of it (AUTH_CACHE_SECONDS) makes this a cost paid
once per token and worker every 30 seconds at most. Rate limits: what the limiter does for each
API request (count the hit, which also tells the window for the RateLimit-* headers) with
in-process counters and with Redis, when one answers.
"""

import argparse
import contextlib
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from tests.jwks_server import JwksServer, Signer
from ticketing.auth.counters import MemoryCounters, RedisCounters
from ticketing.auth.supabase import SupabaseTokens

SECRET = "benchmark-secret-of-at-least-32-characters"


def per_call_us(function, calls: int) -> tuple[float, float]:
    """Median and 95th percentile of one call, in microseconds."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


def bench_tokens(calls: int) -> None:
    signers = {"ES256": Signer.es256(), "RS256": Signer.rs256(), "HS256": Signer.hs256(SECRET)}
    with JwksServer() as server:
        server.publish(signers["ES256"], signers["RS256"])
        tokens = SupabaseTokens(server.url, secret=SECRET)
        print("SupabaseTokens.verify, warm key set       p50 us   p95 us")
        for name, signer in signers.items():
            token = signer.token(server.issuer)
            tokens.verify(token)
            p50, p95 = per_call_us(lambda token=token: tokens.verify(token), calls)
            print(f"  {name:<40}{p50:>7.0f}  {p95:>7.0f}")


def bench_limits(calls: int, redis_url: str) -> None:
    print("rate limit per request (one hit)          p50 us   p95 us")
    key = f"LIMITER/bench/{uuid.uuid4().hex}/1000000/1/minute"
    for name, make in (("in-process counters", MemoryCounters),
                       (f"Redis {redis_url}", lambda: RedisCounters(redis_url, 0.5))):
        counters = make()
        try:
            counters.hit(key, 60)
        except redis.RedisError as error:  # no Redis here: say so and go on
            print(f"  {name:<40}skipped ({type(error).__name__})")
            continue
        p50, p95 = per_call_us(lambda counters=counters: counters.hit(key, 60), calls)
        print(f"  {name:<40}{p50:>7.0f}  {p95:>7.0f}")
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(redis_url).delete(f"LIMITS:{key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    bench_tokens(args.calls)
    bench_limits(args.calls, args.redis)


if __name__ == "__main__":
    main()
