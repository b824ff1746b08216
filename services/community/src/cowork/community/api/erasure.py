"""Erasure requests by e-mail confirmation link (public): ask, then confirm from the mail."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from typing import Annotated, Any

from fastapi import Query
from pydantic import EmailStr, Field

from cowork.community.commands.erasure import LinkRefused, confirm_erasure, request_erasure
from cowork.shared.api import Representation, Strict, error_responses, v1_router
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.events.contracts.base import Language
from cowork.shared.http import ApiError
from cowork.shared.logging import get_logger
from cowork.shared.service import Runtime

log = get_logger(__name__)
router = v1_router(public=True, tags=["erasure"])


def _refusal(exc: Exception) -> ApiError | None:
    if isinstance(exc, LinkRefused):
        return ApiError(exc.status, exc.code, str(exc), field="token")
    return None


_errors = api_errors(_refusal)

ACCEPTED = {"status": "accepted",
            "message": "If we hold data under this address, a mail with a confirmation link "
                       "is on its way; the link works for 24 hours."}


class NewErasureRequest(Strict):
    email: Annotated[EmailStr, Field(max_length=254)]
    language: Language = "it"


class ErasureAccepted(Representation):
    status: str
    message: str


class ErasureDone(Representation):
    status: str
    erased: int


@router.post("/erasure-requests", status_code=202, response_model=ErasureAccepted,
             responses=error_responses(422))
async def ask_for_erasure(body: NewErasureRequest, runtime: Runtime) -> dict[str, Any]:
    """Always the same 202, whether or not the address is known (nothing is revealed). A link
    is mailed only when something is held under it, at most 3 times a day per address."""
    settings: Any = runtime.settings  # CommunitySettings (app.py imports this module)
    async with _errors(), runtime.db.acquire() as conn, conn.transaction():
        outcome = await request_erasure(conn, str(body.email), body.language, runtime.clock(),
                                        settings.public_base_url, settings.erasure_digest_key)
    log.info("erasure requested", outcome=outcome.reason)  # never the address
    return ACCEPTED


Token = Annotated[str, Query(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/erasure-requests/confirm", response_model=ErasureDone,
             responses=error_responses(404, 409, 410, 422))
async def erase_by_link(token: Token, runtime: Runtime) -> dict[str, Any]:
    """The mailed link's action: erases, once. 404 for a link never given, 409 once used,
    410 after 24 hours."""
    async with _errors(), runtime.db.acquire() as conn, conn.transaction():
        erased = await confirm_erasure(conn, token, runtime.clock())
    log.info("erasure confirmed", erased=erased)
    return {"status": "erased", "erased": erased}
