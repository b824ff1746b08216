"""What the membership routes take by dependency beyond the shared `Runtime` and `Caller`: one
transaction in which the rules' and the database's refusals become API errors (docs/api/)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

import asyncpg
from fastapi import Depends

from cowork.membership import domain
from cowork.shared.api import transactions
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.http import ApiError
from cowork.shared.service import Runtime

T = TypeVar("T")

_UNIQUE = {
    "members_tax_code_unique": ("tax_code_taken", "tax_code", "this tax code is already registered"),
    "members_email_unique": ("email_taken", "email", "this email is already registered"),
    "plans_pkey": ("plan_code_taken", "code", "a plan with this code exists"),
    "memberships_one_live_per_member": (
        "live_membership_exists", "plan_code",
        "the member already has a live membership; cancel it or let it expire first"),
}


# Refusals because of the membership's state (409); every other rule names a field (422).
_CONFLICTS = ("invalid_transition", "plan_retired", "renewal_too_early")


def _rule_violation(exc: Exception) -> ApiError | None:
    if not isinstance(exc, domain.RuleViolation):
        return None
    status = 409 if exc.code in _CONFLICTS and not exc.field else 422
    return ApiError(status, exc.code, str(exc), field=exc.field)


# The rules' and the database's refusals become API errors (docs/api/).
translated_errors = api_errors(_rule_violation, _UNIQUE)


class InTransaction(Protocol):
    """`await in_tx(work)`: `work(conn)` in one transaction, its refusals translated."""

    def __call__(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> Awaitable[T]: ...


def in_transaction(runtime: Runtime) -> InTransaction:
    run = transactions(runtime, translated_errors)

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await run(work)

    return in_tx


InTx = Annotated[InTransaction, Depends(in_transaction)]
