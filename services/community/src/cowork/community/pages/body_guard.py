"""The pages' forms past the API's body guard. Every service refuses a body that is not JSON
(cowork.shared.http.RequestBodyGuard: 415), but a browser's form posts
`application/x-www-form-urlencoded`. Outside /v1 — the pages' own routes — such a body is
accepted, under the same size cap; the API keeps its rule unchanged.

(Better as an option of the guard in cowork.shared.http; until then it lives here.)"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cowork.shared.http import DEFAULT_MAX_BODY_BYTES, RequestBodyGuard, error_body

FORM = b"application/x-www-form-urlencoded"


class PageFormGuard:
    """The API's guard, except for a page's form (urlencoded POST outside /v1): that one is
    read under the same size cap and passed on."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.api_guard = RequestBodyGuard(app, max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_page_form(scope):
            await self.api_guard(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                response = JSONResponse(error_body(
                    "payload_too_large", f"the request body is larger than {self.max_body_bytes} bytes"),
                    status_code=413)
                await response(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_page_form(scope: Scope) -> bool:
    if scope["path"].startswith("/v1/") or scope["method"] != "POST":
        return False
    media = dict(scope.get("headers", [])).get(b"content-type", b"").split(b";")[0]
    return media.strip().lower() == FORM


def accept_page_forms(app: FastAPI) -> FastAPI:
    """`app` with its body guard swapped for PageFormGuard (before the app first serves)."""
    app.user_middleware = [
        Middleware(PageFormGuard, *m.args, **m.kwargs) if m.cls is RequestBodyGuard else m
        for m in app.user_middleware]
    return app
