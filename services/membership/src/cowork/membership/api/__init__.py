"""HTTP API v1 of the membership service (docs/api/membership.md): one router per OpenAPI tag."""

from cowork.membership.api import members, memberships, plans

ROUTERS = [members.router, plans.router, memberships.router]
