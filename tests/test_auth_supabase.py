"""Supabase Auth access tokens against a real key set server over HTTP."""

import json
import random
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ticketing.auth.errors import ExpiredCredential, InvalidCredential, KeySetUnavailable
from ticketing.auth.supabase import SupabaseTokens, looks_like_jwt
from ticketing.config import Config

from .jwks_server import JwksServer, Signer, b64json, b64url, hand_made_token, supabase_claims

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
REFETCH = 0.3  # seconds between key set fetches in these tests


@pytest.fixture(scope="module")
def es256():
    return Signer.es256()


@pytest.fixture(scope="module")
def rs256():
    return Signer.rs256()


@pytest.fixture
def hs256():
    return Signer.hs256(SECRET)


@pytest.fixture
def server(es256, rs256):
    with JwksServer() as server:
        server.publish(es256, rs256)
        yield server


@pytest.fixture
def make_tokens(server):
    def make(**options) -> SupabaseTokens:
        settings = {"secret": SECRET, "leeway": 5, "refetch_interval": REFETCH,
                    "cache_seconds": 600, "timeout": 1.0, **options}
        return SupabaseTokens(server.url, **settings)

    return make


@pytest.fixture
def tokens(make_tokens):
    return make_tokens()


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "HS256"])
def test_a_valid_token_of_each_algorithm_gives_its_claims(request, server, tokens, algorithm):
    signer = request.getfixturevalue(algorithm.lower())
    user = str(uuid.uuid4())
    claims = tokens.verify(signer.token(server.issuer, sub=user))
    assert claims["sub"] == user
    assert claims["aud"] == "authenticated" and claims["iss"] == server.issuer
    assert claims["email"] == "jane@example.com"


def test_hs256_tokens_need_no_key_set_fetch(server, tokens, hs256):
    tokens.verify(hs256.token(server.issuer))
    assert server.fetches == 0


def test_hs256_is_refused_without_a_configured_secret(server, make_tokens, hs256):
    with pytest.raises(InvalidCredential):
        make_tokens(secret=None).verify(hs256.token(server.issuer))


def test_a_token_signed_with_another_secret_is_refused(server, tokens):
    other = Signer.hs256("another-secret-of-at-least-32-characters!!")
    with pytest.raises(InvalidCredential):
        tokens.verify(other.token(server.issuer))


@pytest.mark.parametrize("algorithm", ["ES256", "HS256"])
def test_an_expired_token_says_so(request, server, tokens, algorithm):
    signer = request.getfixturevalue(algorithm.lower())
    token = signer.token(server.issuer, exp=int(time.time()) - 60, iat=int(time.time()) - 3660)
    with pytest.raises(ExpiredCredential) as caught:
        tokens.verify(token)
    assert caught.value.status == 401 and caught.value.message == "Expired credential"


def test_a_token_expired_within_the_leeway_is_accepted(server, tokens, es256):
    tokens.verify(es256.token(server.issuer, exp=int(time.time()) - 2))


def test_a_token_not_yet_valid_is_refused(server, tokens, es256):
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer, nbf=int(time.time()) + 60))
    with pytest.raises(InvalidCredential):  # issued in the future
        tokens.verify(es256.token(server.issuer, iat=int(time.time()) + 60))


def test_a_token_valid_within_the_leeway_is_accepted(server, tokens, es256):
    now = int(time.time())
    tokens.verify(es256.token(server.issuer, nbf=now + 2, iat=now + 2))


def test_no_leeway_means_none(server, make_tokens, es256):
    with pytest.raises(ExpiredCredential):
        make_tokens(leeway=0).verify(es256.token(server.issuer, exp=int(time.time()) - 2))


@pytest.mark.parametrize("issuer", [
    "https://other.supabase.co/auth/v1",
    "supabase",  # what the project's anon and service_role keys carry
    "{url}",  # the project without /auth/v1
    "{url}/auth/v1/",
    None,
])
def test_a_wrong_or_missing_issuer_is_refused(server, tokens, es256, issuer):
    issuer = issuer.format(url=server.url) if issuer else None
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer, iss=issuer))


@pytest.mark.parametrize("audience", ["anon", "service_role", ["other"], "", None])
def test_a_wrong_or_missing_audience_is_refused(server, tokens, es256, audience):
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer, aud=audience))


@pytest.mark.parametrize("claims", [{"sub": None}, {"sub": ""}, {"sub": "not-a-uuid"},
                                    {"sub": 42}, {"exp": None}, {"exp": "tomorrow"}])
def test_a_missing_or_malformed_claim_is_refused(server, tokens, es256, claims):
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer, **claims))


def tamper_claims(token: str) -> str:
    header, _, signature = token.split(".")
    claims = {**jwt.decode(token, options={"verify_signature": False}), "sub": str(uuid.uuid4())}
    return f"{header}.{b64json(claims)}.{signature}"


def tamper_signature(token: str) -> str:
    header, claims, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    return f"{header}.{claims}.{signature[:10]}{flipped}{signature[11:]}"


@pytest.mark.parametrize("tamper", [tamper_claims, tamper_signature])
@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "HS256"])
def test_a_tampered_token_is_refused(request, server, tokens, tamper, algorithm):
    signer = request.getfixturevalue(algorithm.lower())
    with pytest.raises(InvalidCredential):
        tokens.verify(tamper(signer.token(server.issuer)))


def test_a_token_naming_another_published_key_is_refused(server, tokens, es256, rs256):
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer, headers={"kid": rs256.kid}))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(server, tokens, es256, alg):
    token = hand_made_token({"alg": alg, "typ": "JWT", "kid": es256.kid},
                            supabase_claims(server.issuer))
    with pytest.raises(InvalidCredential):
        tokens.verify(token)


@pytest.mark.parametrize("secret", [SECRET, None])
@pytest.mark.parametrize("published_as", ["pem", "jwk"])
def test_hs256_signed_with_a_public_key_is_refused(server, make_tokens, es256, rs256,
                                                     secret, published_as):
    for signer in (es256, rs256):
        public = (signer.public_pem() if published_as == "pem"
                  else json.dumps(signer.jwk()).encode())
        token = hand_made_token({"alg": "HS256", "typ": "JWT", "kid": signer.kid},
                                supabase_claims(server.issuer), key=public)
        with pytest.raises(InvalidCredential):
            make_tokens(secret=secret).verify(token)


@pytest.mark.parametrize("alg", ["HS384", "HS512", "ES384", "PS256", "RS512", "EdDSA"])
def test_algorithms_supabase_does_not_use_are_refused(server, tokens, es256, alg):
    token = hand_made_token({"alg": alg, "kid": es256.kid}, supabase_claims(server.issuer),
                            key=SECRET.encode())
    with pytest.raises(InvalidCredential):
        tokens.verify(token)


MALFORMED = [
    "", " ", "Bearer", "abc", "a.b.c", "ey.ey.", "eyJhbGciOi", "eyJ..", "..",
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0",  # two segments
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln.ZXh0cmE",  # four segments
    "eyJ" + "A" * 40 + ".eyJ" + "A" * 40 + ".sig",  # base64 of binary junk
    b64url(b'{"alg": "ES256"') + ".e30.c2ln",  # header JSON cut short
    "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln",  # claims not JSON
    b64json(["alg", "ES256"]) + ".e30.c2ln",  # header a list
    b64json({"alg": "ES256", "kid": 7}) + ".e30.c2ln",  # kid not a string
    b64json({"alg": "ES256"}) + ".e30.c2ln",  # no kid
    b64json({"alg": ["HS256"]}) + ".e30.c2ln",
    b64json({"alg": "ES256", "kid": "x"}) + ".e30.c2ln\n",
    "eyJhbGciOiJIUzI1NiJ9.e30.é",
    "eyJ" + "a" * 20_000 + ".e30.c2ln",
    "eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
]


@pytest.mark.parametrize("token", MALFORMED)
def test_malformed_input_is_refused_without_fetching(server, tokens, token):
    with pytest.raises(InvalidCredential):
        tokens.verify(token)
    assert server.fetches <= 1  # at most for a well-formed header naming an unknown kid


@pytest.mark.parametrize("value", [None, 42, b"eyJ.eyJ.x", ["token"]])
def test_non_strings_are_refused(tokens, value):
    with pytest.raises(InvalidCredential):
        tokens.verify(value)


def test_mangled_tokens_only_ever_fail_as_invalid_or_expired(server, tokens, es256, hs256):
    """Never anything a view would turn into a 500, never acceptance."""
    randomness = random.Random(7)
    alphabet = "ABCxyz019-_.=+/ é"
    for signer in (es256, hs256):
        token = signer.token(server.issuer)
        for _ in range(300):
            chars = list(token)
            for _ in range(randomness.randint(1, 4)):
                chars[randomness.randrange(len(chars))] = randomness.choice(alphabet)
            mangled = "".join(chars)
            if mangled == token:
                continue
            with pytest.raises((InvalidCredential, ExpiredCredential, KeySetUnavailable)):
                tokens.verify(mangled)


def test_the_key_set_is_fetched_once_and_cached(server, tokens, es256, rs256):
    for _ in range(5):
        tokens.verify(es256.token(server.issuer))
        tokens.verify(rs256.token(server.issuer))
    assert server.fetches == 1


def forged(signer: Signer, server: JwksServer) -> str:
    return signer.token(server.issuer, headers={"kid": uuid.uuid4().hex})


def test_unknown_kids_refetch_at_most_once_per_interval(server, tokens, es256):
    tokens.verify(es256.token(server.issuer))
    assert server.fetches == 1
    time.sleep(REFETCH * 1.2)
    for _ in range(50):  # a stream of forged kids
        with pytest.raises(InvalidCredential):
            tokens.verify(forged(es256, server))
    assert server.fetches == 2
    time.sleep(REFETCH * 1.2)
    with pytest.raises(InvalidCredential):
        tokens.verify(forged(es256, server))
    assert server.fetches == 3
    tokens.verify(es256.token(server.issuer))  # known keys never wait for a fetch
    assert server.fetches == 3


def test_a_rotated_key_is_picked_up_without_a_restart(server, tokens, es256):
    tokens.verify(es256.token(server.issuer))
    rotated = Signer.es256()
    server.publish(es256, rotated)
    time.sleep(REFETCH * 1.2)
    assert tokens.verify(rotated.token(server.issuer))["aud"] == "authenticated"
    assert server.fetches == 2


def test_a_key_removed_from_the_set_stops_working_after_the_next_fetch(server, make_tokens,
                                                                       es256, rs256):
    tokens = make_tokens(cache_seconds=REFETCH)
    tokens.verify(rs256.token(server.issuer))
    server.publish(es256)
    time.sleep(REFETCH * 1.2)
    with pytest.raises(InvalidCredential):
        tokens.verify(rs256.token(server.issuer))


def test_concurrent_first_requests_fetch_once(server, tokens, es256, rs256):
    server.delay = 0.2
    results, errors = [], []

    def verify(signer):
        try:
            results.append(tokens.verify(signer.token(server.issuer)))
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=verify, args=((es256, rs256)[n % 2],)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 16
    assert server.fetches == 1


@pytest.mark.parametrize("outage", ["refused", "500", "not json", "not a key set", "slow"])
def test_an_unreachable_key_set_without_cached_keys_is_a_503(server, make_tokens, es256, outage):
    tokens = make_tokens(timeout=0.3)
    break_server(server, outage)
    started = time.monotonic()
    with pytest.raises(KeySetUnavailable) as caught:
        tokens.verify(es256.token(server.issuer))
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    assert time.monotonic() - started < 2  # a short timeout, not a hung request


def break_server(server: JwksServer, outage: str) -> None:
    if outage == "refused":
        server.refuse()
    elif outage == "500":
        server.status = 500
    elif outage == "not json":
        server.body = b"<html>Bad gateway</html>"
    elif outage == "not a key set":
        server.body = b'["keys"]'
    else:
        server.delay = 1.0


def test_cached_keys_keep_working_while_the_key_set_is_unreachable(server, make_tokens, es256):
    tokens = make_tokens(cache_seconds=REFETCH)
    tokens.verify(es256.token(server.issuer))
    server.status = 500
    time.sleep(REFETCH * 1.2)  # the cache is stale: a refetch is tried and fails
    for _ in range(20):
        tokens.verify(es256.token(server.issuer))
    assert server.fetches == 2  # failed attempts also wait for the refetch interval
    with pytest.raises(KeySetUnavailable):  # an unknown kid cannot be checked now
        tokens.verify(forged(es256, server))


def test_the_key_set_is_fetched_again_once_it_answers(server, make_tokens, es256):
    tokens = make_tokens()
    port = server.port
    server.refuse()
    with pytest.raises(KeySetUnavailable):
        tokens.verify(es256.token(server.issuer))
    with pytest.raises(KeySetUnavailable):  # within the interval: no new attempt
        tokens.verify(es256.token(server.issuer))
    server.port = port
    server.start()
    time.sleep(REFETCH * 1.2)
    tokens.verify(es256.token(server.issuer))
    assert server.fetches == 1


def test_unusable_keys_in_the_set_are_ignored(server, tokens, es256):
    es384 = Signer("ES384", ec.generate_private_key(ec.SECP384R1()))
    server.keys = [
        {"kty": "oct", "kid": "symmetric", "k": b64url(SECRET.encode()), "alg": "HS256"},
        {**Signer.es256().jwk(), "use": "enc", "kid": "encryption"},
        {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "n": "AQAB"},  # no kid
        "not a key",
        {**es384.jwk(), "alg": "ES384"},
        es256.jwk(),
    ]
    tokens.verify(es256.token(server.issuer))
    symmetric = hand_made_token({"alg": "HS256", "kid": "symmetric"},
                                supabase_claims(server.issuer), key=b"wrong")
    for token in (symmetric, es384.token(server.issuer),
                  es256.token(server.issuer, headers={"kid": "encryption"})):
        with pytest.raises(InvalidCredential):
            tokens.verify(token)


def test_an_empty_key_set_refuses_asymmetric_tokens_but_not_hs256(server, tokens, es256, hs256):
    server.keys = []
    with pytest.raises(InvalidCredential):
        tokens.verify(es256.token(server.issuer))
    tokens.verify(hs256.token(server.issuer))


def test_looks_like_jwt(es256, hs256):
    assert looks_like_jwt(es256.token("https://x.supabase.co/auth/v1"))
    assert looks_like_jwt(hs256.token("https://x.supabase.co/auth/v1"))
    assert looks_like_jwt(hand_made_token({"alg": "none"}, {}))  # refused later, not here
    for value in ("tk_live_3yq0Ejqx8b2QG1yq3H3n6Y1Ac8ZbK7xL", "", "a.b.c", "eyJ.x",
                  "eyJhbGciOiJIUzI1NiJ9.e30.c2ln extra", None, 12):
        assert not looks_like_jwt(value)


def test_built_from_the_settings(monkeypatch, server):
    assert SupabaseTokens.from_config(Config().__dict__) is None
    monkeypatch.setenv("SUPABASE_URL", server.url + "/")
    monkeypatch.setenv("SUPABASE_JWT_LEEWAY", "7")
    monkeypatch.setenv("SUPABASE_JWKS_REFETCH_INTERVAL", "2.5")
    tokens = SupabaseTokens.from_config(Config().__dict__)
    assert tokens.issuer == server.issuer and tokens.secret is None and tokens.leeway == 7
    assert tokens.keys.url == server.url + "/auth/v1/.well-known/jwks.json"
    assert tokens.keys.refetch_interval == 2.5


@pytest.mark.parametrize("settings, message", [
    ({"SUPABASE_URL": "PROJECT.supabase.co"}, "SUPABASE_URL"),
    ({"SUPABASE_URL": "ftp://x.supabase.co"}, "SUPABASE_URL"),
    ({"SUPABASE_JWT_SECRET": SECRET}, "needs SUPABASE_URL"),
    ({"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_JWT_SECRET": "short"}, "32"),
    ({"SUPABASE_JWT_LEEWAY": "-1"}, "SUPABASE_JWT_LEEWAY"),
    ({"SUPABASE_JWKS_REFETCH_INTERVAL": "0"}, "SUPABASE_JWKS_REFETCH_INTERVAL"),
    ({"SUPABASE_JWKS_TIMEOUT": "600"}, "SUPABASE_JWKS_TIMEOUT"),
])
def test_bad_settings_stop_the_start(monkeypatch, settings, message):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Config()
