"""JWT bearer authentication and the roles of docs/api/README.md.

Two kinds of token are accepted:
- HS256 signed with the deployment's shared secret (`COWORK_JWT_SECRET`, at least 32 bytes; the
  local stack and `cowork token`), claims `sub`, `roles` (a list), `exp`, `iss` and `aud`: the
  services the token is for (one service's name, or several), so a token minted for one
  service does not open another;
- with OpenID Connect configured (`COWORK_OIDC_ISSUER`), RS256/ES256 tokens of that issuer,
  verified against its JWKS (fetched, cached, fetched again for an unknown `kid`), with `iss`
  the issuer and `aud` this service's audience; the roles come from a configurable claim
  (`realm_access.roles` for Keycloak).
A member's `sub` is their member id (a UUID).
An HS256 token verified once is kept by its exact text (`VerifiedTokens`): its signature is not
checked again, its `exp`, `nbf`, `iat` and audience are, on every use.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cowork.shared.http import ApiError

if TYPE_CHECKING:
    from cowork.shared.settings import ServiceSettings

Role = Literal["member", "staff", "officer", "partner", "operator"]
ROLES: tuple[Role, ...] = ("member", "staff", "officer", "partner", "operator")
ALGORITHM = "HS256"
# The audience of each service's HS256 tokens is its name. A token made without naming one is
# for the whole stack (what the local stack's `cowork token` and the tests hand out).
SERVICE_AUDIENCES: tuple[str, ...] = ("membership", "booking", "vouchers", "notifications",
                                       "community")


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def is_member(self, member_id: object) -> bool:
        return "member" in self.roles and self.sub == str(member_id)


def issue_token(secret: str, *, sub: str, roles: Iterable[str], ttl: timedelta = timedelta(hours=12),
                issuer: str = "cowork", now: datetime | None = None,
                audience: str | Iterable[str] = SERVICE_AUDIENCES) -> str:
    """An HS256 token for `audience` (a service's name or several; default: every service)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    audiences = [audience] if isinstance(audience, str) else sorted(set(audience))
    if not audiences:
        raise ValueError("a token needs at least one audience")
    issued = now or datetime.now(UTC)
    claims = {"sub": sub, "roles": sorted(set(roles)), "iat": issued, "exp": issued + ttl,
              "iss": issuer, "aud": audiences[0] if len(audiences) == 1 else audiences}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, *, audience: str, issuer: str = "cowork") -> Principal:
    return _verified_hs256(token, secret, audience=audience, issuer=issuer)[0]


def _verified_hs256(token: str, secret: str, *, audience: str, issuer: str
                    ) -> tuple[Principal, dict[str, Any]]:
    """The principal of a valid HS256 token and the claims it was verified with."""
    if not secret:  # an empty HMAC key would verify anyone's signature
        raise ApiError(401, "invalid_token", "this service accepts no HS256 tokens")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                            audience=audience, options={"require": ["sub", "exp", "aud"]})
    except jwt.ExpiredSignatureError as exc:
        raise _expired() from exc
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "invalid_token", f"the bearer token is not valid: {exc}") from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ApiError(401, "invalid_token", "the token's roles claim must be a list of strings")
    return principal_of(str(claims["sub"]), roles), claims


def _expired() -> ApiError:
    return ApiError(401, "token_expired", "the bearer token has expired")


class VerifiedTokens:
    """HS256 tokens this authenticator has already verified, by their exact text, so a client
    sending the same token on every request pays the signature check once (it was 5 % of a
    booking replica's CPU, docs/benchmarks.md). Only a token that passed the full check is kept,
    keyed on the whole string — header, claims and signature — so a token differing in any
    byte (tampered, signed with another key, for another audience) is not found and is checked
    in full. What can change with time is checked again on every use, as PyJWT checks it:
    `exp` (expired at `exp`), `nbf` and `iat` (not before) and the audience it was verified
    for. Bounded: the oldest entry makes room; size 0 keeps nothing. Authenticators of several
    audiences may share one, never of two keys or issuers (`bind`)."""

    def __init__(self, size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._tokens: dict[str, tuple[Principal, int, int | None, str]] = {}
        self._verifier: tuple[bytes, str] | None = None  # the key's digest and the issuer

    def bind(self, secret: str, issuer: str) -> None:
        """Only the audience is checked again on a hit, so the tokens kept here must all have
        been verified with this key and issuer: an authenticator with a rotated secret (or
        another issuer) sharing them would accept the old key's tokens unchecked."""
        verifier = (hashlib.sha256(secret.encode()).digest(), issuer)
        if self._verifier is None:
            self._verifier = verifier
        elif self._verifier != verifier:
            raise ValueError("these verified tokens were kept for another HS256 key or issuer")

    def get(self, token: str, audience: str) -> Principal | None:
        """The principal of a kept token still valid now; None when not kept. An expired one
        is dropped and refused (401 token_expired, as a full check would)."""
        kept = self._tokens.get(token)
        if kept is None:
            return None
        principal, expires, not_before, verified_for = kept
        now = self._clock()
        if verified_for != audience or (not_before is not None and not_before > now):
            return None  # not valid here or not yet: the full check decides (and refuses)
        if expires <= now:
            del self._tokens[token]
            raise _expired()
        return principal

    def keep(self, token: str, principal: Principal, claims: dict[str, Any],
             audience: str) -> None:
        if self._size <= 0:
            return
        if len(self._tokens) >= self._size:
            del self._tokens[next(iter(self._tokens))]
        # PyJWT accepted these as integers (int() of the claim) just before, and refuses a
        # token before its `nbf` as before its `iat` ("not yet valid").
        not_before = max((int(claims[name]) for name in ("nbf", "iat") if name in claims),
                         default=None)
        self._tokens[token] = (principal, int(claims["exp"]), not_before, audience)


def principal_of(sub: str, roles: Iterable[str]) -> Principal:
    """A member's `sub` is their member id: a token saying otherwise is not valid here (it
    would otherwise reach the database as a malformed id)."""
    roles = frozenset(roles)
    if "member" in roles:
        try:
            sub = str(UUID(sub))
        except ValueError as exc:
            raise ApiError(401, "invalid_token",
                           "a member token's sub must be the member's id (a UUID)") from exc
    return Principal(sub=sub, roles=roles)


def _invalid(message: str) -> ApiError:
    return ApiError(401, "invalid_token", f"the bearer token is not valid: {message}")


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The claim at a dotted path (`realm_access.roles`), None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _fetch_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the operator's URL
        return json.load(response)


class OidcVerifier:
    """Tokens of one OpenID Connect issuer for one audience. The JWKS is fetched on first use
    (from `jwks_url`, or the issuer's discovery document), kept `cache_seconds`, and fetched
    again when a token names a key id it does not hold (the provider rotated its keys)."""

    def __init__(self, issuer: str, audience: str, *, jwks_url: str | None = None,
                 roles_claim: str = "roles", algorithms: Sequence[str] = ("RS256", "ES256"),
                 cache_seconds: int = 300, refresh_cooldown_seconds: float = 30.0,
                 timeout: float = 5.0) -> None:
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.algorithms = tuple(algorithms)
        self._jwks_url = jwks_url
        self._cache_seconds = cache_seconds
        # Tokens naming made-up key ids must not make us hammer the provider: after a fetch,
        # an unknown kid fetches again only once this has passed.
        self._refresh_cooldown_seconds = refresh_cooldown_seconds
        self._timeout = timeout
        self._client: jwt.PyJWKClient | None = None
        self._lock = asyncio.Lock()

    async def _jwks_client(self) -> jwt.PyJWKClient:
        async with self._lock:
            if self._client is None:
                url = self._jwks_url
                if url is None:
                    discovery = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
                    url = (await asyncio.to_thread(_fetch_json, discovery, self._timeout))[
                        "jwks_uri"]
                self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=True,
                                               lifespan=max(self._cache_seconds, 1),
                                               timeout=self._timeout,
                                               cooldown_duration=self._refresh_cooldown_seconds)
            return self._client

    async def verify(self, token: str) -> Principal:
        try:
            client = await self._jwks_client()
            # PyJWKClient fetches with urllib: off the event loop.
            signing_key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
        except (jwt.PyJWKClientConnectionError, OSError, KeyError, ValueError) as exc:
            raise ApiError(503, "identity_provider_unavailable",
                           "the identity provider's keys cannot be fetched; try again") from exc
        except jwt.PyJWKClientError as exc:  # no key with the token's kid, even after a refresh
            raise _invalid(str(exc)) from exc
        except jwt.InvalidTokenError as exc:
            raise _invalid(str(exc)) from exc
        try:
            claims = jwt.decode(token, signing_key.key, algorithms=list(self.algorithms),
                                audience=self.audience, issuer=self.issuer, leeway=30,
                                options={"require": ["sub", "exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise ApiError(401, "token_expired", "the bearer token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise _invalid(str(exc)) from exc
        roles = claim_at(claims, self.roles_claim) or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _invalid(f"the {self.roles_claim} claim must be a list of strings")
        # A provider's other roles (offline_access, uma_authorization) mean nothing here.
        return principal_of(str(claims["sub"]), [r for r in roles if r in ROLES])


_bearer = HTTPBearer(auto_error=False)
_optional_bearer = HTTPBearer(auto_error=False, scheme_name="OptionalBearer",
                              description="optional: without it the caller is anonymous")


class Authenticator:
    """Verifies bearer tokens (HS256 with the shared secret, OIDC when configured) and builds
    the FastAPI dependencies."""

    def __init__(self, secret: str, issuer: str = "cowork", *, audience: str,
                 oidc: OidcVerifier | None = None,
                 verified: VerifiedTokens | None = None) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience  # what an HS256 token's `aud` must name
        self._oidc = oidc
        self._verified = verified if verified is not None else VerifiedTokens()
        self._verified.bind(secret, issuer)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Authenticator:
        oidc = None
        if settings.oidc_issuer:
            oidc = OidcVerifier(settings.oidc_issuer,
                                settings.oidc_audience or settings.service_name,
                                jwks_url=settings.oidc_jwks_url,
                                roles_claim=settings.oidc_roles_claim,
                                algorithms=settings.oidc_algorithms,
                                cache_seconds=settings.oidc_jwks_cache_seconds,
                                refresh_cooldown_seconds=settings.oidc_jwks_refresh_cooldown_seconds)
        return cls(settings.jwt_secret.get_secret_value(), settings.jwt_issuer,
                   audience=settings.service_name, oidc=oidc)

    async def verify(self, token: str) -> Principal:
        kept = self._verified.get(token, self._audience)
        if kept is not None:
            return kept
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise _invalid(str(exc)) from exc
        if algorithm == ALGORITHM:
            principal, claims = _verified_hs256(token, self._secret, issuer=self._issuer,
                                                audience=self._audience)
            self._verified.keep(token, principal, claims, self._audience)
            return principal
        if self._oidc is not None and algorithm in self._oidc.algorithms:
            return await self._oidc.verify(token)
        raise _invalid(f"tokens signed with {algorithm!r} are not accepted here")

    def principal(self) -> Callable[..., Awaitable[Principal]]:
        async def dependency(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> Principal:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise ApiError(401, "unauthenticated",
                               "this endpoint needs an 'Authorization: Bearer <JWT>' header")
            principal = await self.verify(credentials.credentials)
            request.state.principal = principal
            return principal

        return dependency

    def optional_principal(self) -> Callable[..., Awaitable[Principal | None]]:
        """For an endpoint anyone may call (self-registration): None without a token, the
        principal with a valid one, 401 with an invalid one (never silently anonymous)."""

        async def dependency(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
        ) -> Principal | None:
            if request.headers.get("authorization") is None:
                return None
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <JWT>'")
            principal = await self.verify(credentials.credentials)
            request.state.principal = principal
            return principal

        return dependency




def app_authenticator(request: Request) -> Authenticator:
    """The authenticator the app was built with (`ServiceRuntime.create_app` puts it on the
    app's state, built once from settings: HS256 and, when configured, OpenID Connect)."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    dependency = app_authenticator(request).principal()
    return await dependency(request, credentials)


async def _optional_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> Principal | None:
    dependency = app_authenticator(request).optional_principal()
    return await dependency(request, credentials)


def caller_with_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that is the caller, 403 unless they hold one of `roles`. As a dependency
    it runs before FastAPI validates the query and the body, so a caller without the role
    learns nothing of what the endpoint would validate (403, never 422)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await _caller(request, credentials)
        require_roles(principal, *roles)
        return principal

    return dependency


# What a route declares to know who calls it: `caller: Caller` (401 without a valid token),
# `caller: OptionalCaller` (None without a token; self-registration), `caller: StaffCaller`,
# `OfficerCaller`, `OfficerOrStaffCaller`, `OperatorCaller`, `PartnerCaller` (403 before the
# input is read for anyone else).
Caller = Annotated[Principal, Depends(_caller)]
OptionalCaller = Annotated[Principal | None, Depends(_optional_caller)]
StaffCaller = Annotated[Principal, Depends(caller_with_roles("staff"))]
PartnerCaller = Annotated[Principal, Depends(caller_with_roles("partner"))]
OfficerCaller = Annotated[Principal, Depends(caller_with_roles("officer"))]
OfficerOrStaffCaller = Annotated[Principal, Depends(caller_with_roles("officer", "staff"))]
OperatorCaller = Annotated[Principal, Depends(caller_with_roles("operator"))]


def require_roles(principal: Principal, *roles: str) -> None:
    if not principal.has(*roles):
        raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(roles)}")


def require_self_or_roles(principal: Principal, member_id: object, *roles: str) -> None:
    """A member touches only their own data; the named roles touch anyone's."""
    if principal.is_member(member_id) or principal.has(*roles):
        return
    raise ApiError(403, "forbidden", "a member may only see and change their own data")
