"""JWT bearer authentication and the roles of API.md.

Tokens are HS256 with the deployment's shared secret (`COWORK_JWT_SECRET`), claims `sub`,
`roles` (a list) and `exp`. A member's `sub` is their member id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

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
    return Principal(sub=str(claims["sub"]), roles=frozenset(roles))


_bearer = HTTPBearer(auto_error=False)


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
            principal = verify_token(credentials.credentials, self._secret, issuer=self._issuer)
            request.state.principal = principal
            return principal

        return dependency


def require_roles(principal: Principal, *roles: str) -> None:
    if not principal.has(*roles):
        raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(roles)}")


def require_self_or_roles(principal: Principal, member_id: object, *roles: str) -> None:
    """A member touches only their own data; the named roles touch anyone's."""
    if principal.is_member(member_id) or principal.has(*roles):
        return
    raise ApiError(403, "forbidden", "a member may only see and change their own data")
