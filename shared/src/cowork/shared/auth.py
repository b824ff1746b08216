"""JWT bearer authentication and the roles of API.md.

Tokens are HS256 with the deployment's shared secret (`COWORK_JWT_SECRET`), claims `sub`,
`roles` (a list) and `exp`. A member's `sub` is their member id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cowork.shared.http import ApiError

Role = Literal["member", "staff", "officer", "partner", "operator"]
ROLES: tuple[Role, ...] = ("member", "staff", "officer", "partner", "operator")
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def is_member(self, member_id: object) -> bool:
        return "member" in self.roles and self.sub == str(member_id)


def issue_token(secret: str, *, sub: str, roles: Iterable[str], ttl: timedelta = timedelta(hours=12),
                issuer: str = "cowork", now: datetime | None = None) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    issued = now or datetime.now(UTC)
    claims = {"sub": sub, "roles": sorted(set(roles)), "iat": issued, "exp": issued + ttl,
              "iss": issuer}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, *, issuer: str = "cowork") -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                            options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "token_expired", "the bearer token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "invalid_token", f"the bearer token is not valid: {exc}") from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ApiError(401, "invalid_token", "the token's roles claim must be a list of strings")
    return principal_of(str(claims["sub"]), roles)


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


_bearer = HTTPBearer(auto_error=False)
_optional_bearer = HTTPBearer(auto_error=False, scheme_name="OptionalBearer",
                              description="optional: without it the caller is anonymous")


class Authenticator:
    """Builds the FastAPI dependencies for one secret."""

    def __init__(self, secret: str, issuer: str = "cowork") -> None:
        self._secret = secret
        self._issuer = issuer

    def principal(self) -> Callable[..., Awaitable[Principal]]:
        async def dependency(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> Principal:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise ApiError(401, "unauthenticated",
                               "this endpoint needs an 'Authorization: Bearer <JWT>' header")
            principal = self.verify(credentials.credentials)
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
            principal = self.verify(credentials.credentials)
            request.state.principal = principal
            return principal

        return dependency

    def verify(self, token: str) -> Principal:
        return verify_token(token, self._secret, issuer=self._issuer)


def require_roles(principal: Principal, *roles: str) -> None:
    if not principal.has(*roles):
        raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(roles)}")


def require_self_or_roles(principal: Principal, member_id: object, *roles: str) -> None:
    """A member touches only their own data; the named roles touch anyone's."""
    if principal.is_member(member_id) or principal.has(*roles):
        return
    raise ApiError(403, "forbidden", "a member may only see and change their own data")
