"""Already-verified HS256 tokens are kept by their exact text (auth.VerifiedTokens), so a
client's repeated token pays the signature check once; nothing that a full check would refuse
gets through because a similar or the same token was kept before."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cowork.shared.auth import Authenticator, VerifiedTokens, issue_token
from cowork.shared.http import ApiError

SECRET = "test-secret-of-enough-length-for-hs256"
OTHER_SECRET = "another-secret-of-enough-length-for-hs256"
M1 = "00000000-0000-4000-8000-000000000001"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _token(secret: str = SECRET, **claims: object) -> str:
    now = datetime.now(UTC)
    base: dict[str, object] = {"sub": M1, "roles": ["member"], "iat": now,
                               "exp": now + timedelta(hours=1), "iss": "cowork",
                               "aud": "membership"}
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


async def _refused(auth: Authenticator, token: str) -> str:
    with pytest.raises(ApiError) as refused:
        await auth.verify(token)
    assert refused.value.status == 401
    return refused.value.code


async def test_a_repeated_token_is_checked_in_full_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> dict[str, object]:
        decoded.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    auth = Authenticator(SECRET, audience="membership")
    token = _token()
    for _ in range(5):
        principal = await auth.verify(token)
        assert principal.sub == M1 and principal.is_member(M1)
    assert len(decoded) == 1


def _tampered_claims(token: str, **changes: object) -> str:
    """The same header and signature around other claims: a forgery that shares the kept
    token's prefix (its header) and its signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{signature}"


async def test_tampered_tokens_are_refused_after_the_genuine_one_was_kept() -> None:
    auth = Authenticator(SECRET, audience="membership")
    token = _token()
    await auth.verify(token)
    last = token[-1]
    flipped_signature = token[:-1] + ("A" if last != "A" else "B")
    for forged in (flipped_signature, _tampered_claims(token, roles=["staff"]),
                   _tampered_claims(token, exp=4102444800), token + "x", token[:-2]):
        assert await _refused(auth, forged) == "invalid_token"
    assert (await auth.verify(token)).roles == {"member"}  # the genuine one still works


async def test_the_same_claims_signed_with_another_key_are_refused_after_kept() -> None:
    auth = Authenticator(SECRET, audience="membership")
    issued = datetime.now(UTC)
    await auth.verify(_token(iat=issued))
    assert await _refused(auth, _token(OTHER_SECRET, iat=issued)) == "invalid_token"


async def test_a_token_for_another_audience_is_refused_after_one_for_this_was_kept() -> None:
    kept = VerifiedTokens()
    membership = Authenticator(SECRET, audience="membership", verified=kept)
    booking = Authenticator(SECRET, audience="booking", verified=kept)
    token = _token()
    await membership.verify(token)
    # The very token membership kept does not open booking, even through a shared cache.
    assert await _refused(booking, token) == "invalid_token"
    assert await _refused(membership, _token(aud="vouchers")) == "invalid_token"
    # Nor through booking's own authenticator, which never saw it.
    assert await _refused(Authenticator(SECRET, audience="booking"), token) == "invalid_token"


async def test_a_kept_token_is_refused_once_expired() -> None:
    clock = Clock()
    kept = VerifiedTokens(clock=clock)
    auth = Authenticator(SECRET, audience="membership", verified=kept)
    token = issue_token(SECRET, sub=M1, roles=["member"], audience="membership",
                        ttl=timedelta(minutes=5))
    await auth.verify(token)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock.now = expires - 1
    assert (await auth.verify(token)).sub == M1
    clock.now = expires  # PyJWT's rule: expired at exp itself
    assert await _refused(auth, token) == "token_expired"
    clock.now = expires + 3600  # dropped: from here on only the full check could accept it
    assert kept.get(token, "membership") is None


async def test_a_token_not_yet_valid_is_never_kept_nor_let_through_early() -> None:
    auth = Authenticator(SECRET, audience="membership")
    early = _token(nbf=datetime.now(UTC) + timedelta(minutes=10))
    for _ in range(2):
        assert await _refused(auth, early) == "invalid_token"
    # A kept token whose nbf is after the clock (a clock set back) is not answered from the
    # cache: the full check decides.
    clock = Clock()
    kept = VerifiedTokens(clock=clock)
    token = _token(nbf=datetime.now(UTC) - timedelta(seconds=1))
    await Authenticator(SECRET, audience="membership", verified=kept).verify(token)
    assert kept.get(token, "membership") is not None
    clock.now -= 3600
    assert kept.get(token, "membership") is None


async def test_the_cache_is_bounded_oldest_out() -> None:
    kept = VerifiedTokens(size=2)
    auth = Authenticator(SECRET, audience="membership", verified=kept)
    tokens = [_token(sub=f"s{i}", roles=["staff"]) for i in range(3)]
    for token in tokens:
        await auth.verify(token)
    assert kept.get(tokens[0], "membership") is None
    assert kept.get(tokens[1], "membership") is not None
    assert kept.get(tokens[2], "membership") is not None


async def test_refused_tokens_are_not_kept() -> None:
    kept = VerifiedTokens()
    auth = Authenticator(SECRET, audience="membership", verified=kept)
    wrong_key = _token(OTHER_SECRET)
    await _refused(auth, wrong_key)
    assert kept.get(wrong_key, "membership") is None
