"""HTTP conventions of API.md, shared by every service.

Errors are `{"error": {"code", "message", "field"?}}`: 401 unauthenticated, 403 forbidden,
404 unknown id, 409 conflict with existing state, 422 invalid input (naming the field).
A client's mistake is never a 500; an unexpected failure is a 500 that leaks nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cowork.shared import metrics, tracing
from cowork.shared.logging import get_logger

log = get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]

_STATUS_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 415: "unsupported_media_type",
    422: "validation_error", 429: "too_many_requests",
}


class ApiError(Exception):
    """Raise from an endpoint to answer with API.md's error format."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or {}


class NotFound(LookupError):
    """Raised by use cases for an unknown id; answered as 404 wherever it escapes."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} does not exist")


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} does not exist")


def conflict(code: str, message: str, *, field: str | None = None, **details: Any) -> ApiError:
    return ApiError(409, code, message, field=field, details=details)


def invalid(field: str, message: str, code: str = "validation_error") -> ApiError:
    return ApiError(422, code, message, field=field)


def forbidden(message: str, code: str = "forbidden") -> ApiError:
    return ApiError(403, code, message)


def error_body(code: str, message: str, field: str | None = None,
               **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(details)
    return {"error": body}


def _field_of(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "[key]")]
    return ".".join(parts) or None


async def _on_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.field, **exc.details),
                        status_code=exc.status)


async def _on_not_found(_: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("not_found", str(exc)), status_code=404)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_of(first.get("loc", ()))
    problems = [{"field": _field_of(e.get("loc", ())), "reason": e.get("msg", "")} for e in errors]
    message = str(first.get("msg", "invalid request"))
    if field:
        message = f"{field}: {message}"
    return JSONResponse(error_body("validation_error", message, field, problems=problems),
                        status_code=422)


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__,
              exc_info=exc)
    return JSONResponse(error_body("internal", "internal error; see the service's logs"),
                        status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


class RequestContextMiddleware:
    """Pure ASGI (Starlette's BaseHTTPMiddleware costs a task and a stream per request): sets
    the trace context for the request, answers with `traceparent`, and records the latency by
    route template."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                         if k == b"traceparent"), None)
        traceparent = tracing.child_of(incoming)
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"traceparent", traceparent.encode())]
            await send(message)

        token = tracing.set_current(traceparent)
        try:
            with structlog.contextvars.bound_contextvars(trace_id=tracing.trace_id(traceparent)):
                await self.app(scope, receive, send_with_trace)
        finally:
            tracing.reset(token)
            template = getattr(scope.get("route"), "path", "unmatched")
            metrics.HTTP_LATENCY.labels(self.service, scope["method"], template,
                                        str(status)).observe(time.perf_counter() - started)


def install_metrics_middleware(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestContextMiddleware, service=service)


def health_router(ready_checks: dict[str, ReadyCheck]) -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> Response:
        results: dict[str, str] = {}
        ok = True
        for name, check in ready_checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                ok = False
                results[name] = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": results},
                            status_code=200 if ok else 503)

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
