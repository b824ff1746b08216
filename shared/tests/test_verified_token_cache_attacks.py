"""Attacks on the verified-token cache (auth.VerifiedTokens): nothing the full HS256 check
would refuse may be answered from it, whoever shares it and whatever its size or clock."""

import pytest
from test_verified_token_cache import M1, SECRET, Clock, _refused
from test_verified_token_cache import _token as _member_token

from cowork.shared.auth import Authenticator, VerifiedTokens, verify_token
from cowork.shared.http import ApiError

ROTATED_SECRET = "the-rotated-secret-of-enough-length-for-hs256"


def _token(secret: str = SECRET, **claims: object) -> str:
    return _member_token(secret, **{"roles": ["staff"], **claims})


async def test_a_token_signed_with_a_retired_key_is_refused_after_a_rotation() -> None:
    """The cache can be handed to an authenticator (`verified=`), and it only remembers the
    audience a token was verified for: an authenticator built with the rotated secret over
    the same cache accepted the old key's token without checking its signature."""
    kept = VerifiedTokens()
    token = _token()
    await Authenticator(SECRET, audience="membership", verified=kept).verify(token)
    with pytest.raises(ApiError):  # what the full check says with the new key
        verify_token(token, ROTATED_SECRET, audience="membership")
    try:
        rotated = Authenticator(ROTATED_SECRET, audience="membership", verified=kept)
    except ValueError:
        return  # refusing to share the cache across keys is as safe
    assert await _refused(rotated, token) == "invalid_token"


async def test_a_token_of_another_issuer_is_refused_even_through_a_shared_cache() -> None:
    kept = VerifiedTokens()
    token = _token()  # iss "cowork"
    await Authenticator(SECRET, audience="membership", verified=kept).verify(token)
    with pytest.raises(ApiError):
        verify_token(token, SECRET, audience="membership", issuer="cowork-staging")
    try:
        staging = Authenticator(SECRET, "cowork-staging", audience="membership", verified=kept)
    except ValueError:
        return
    assert await _refused(staging, token) == "invalid_token"


async def test_a_kept_token_issued_after_the_clock_is_not_answered_from_the_cache() -> None:
    """PyJWT refuses a token whose `iat` is after now ("not yet valid (iat)"), as it does one
    whose `nbf` is; the cache re-checked only `nbf`, so with the clock set back a kept token
    was still answered although the full check would refuse it."""
    clock = Clock()
    kept = VerifiedTokens(clock=clock)
    token = _token()  # iat now, no nbf
    await Authenticator(SECRET, audience="membership", verified=kept).verify(token)
    assert kept.get(token, "membership") is not None
    clock.now -= 3600
    assert kept.get(token, "membership") is None


async def test_a_cache_of_size_zero_keeps_nothing_and_tokens_are_still_verified() -> None:
    """size=0 (no cache) made `keep` evict from an empty dict: StopIteration inside the
    coroutine, a RuntimeError, a 500 for every valid token."""
    kept = VerifiedTokens(size=0)
    auth = Authenticator(SECRET, audience="membership", verified=kept)
    token = _token()
    assert (await auth.verify(token)).sub == M1
    assert kept.get(token, "membership") is None
