"""HTTP conventions of docs/api/README.md, shared by every service.

Errors are `{"error": {"code", "message", "field"?}}`: 401 unauthenticated, 403 forbidden,
404 unknown id, 409 conflict with existing state, 422 invalid input (naming the field).
A client's mistake is never a 500; an unexpected failure is a 500 that leaks nothing.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cowork.shared import metrics, tracing
from cowork.shared.failures import quotes_values, without_values
from cowork.shared.logging import get_logger

log = get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]

_STATUS_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 415: "unsupported_media_type",
    422: "validation_error", 429: "too_many_requests",
}


class ApiError(Exception):
    """Raise from an endpoint to answer with the error format of docs/api/README.md."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or {}
        self.headers = headers  # e.g. Retry-After on a 429


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


# A flood of unknown keys must not become a flood of problems in the answer.
MAX_REPORTED_PROBLEMS = 20
# Request bodies above this many bytes are refused with 413 before anything parses them.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _field_of(error: Mapping[str, Any]) -> str | None:
    """The dotted path of the input to blame (`consents.privacy`, `plan_codes.2`); None for a
    body that is not JSON at all (its location is a byte offset, meaningless to a client)."""
    if error.get("type") == "json_invalid":
        return None
    loc = list(error.get("loc", ()))
    if _is_missing_body(error):
        return "body"
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    # pydantic names the validator a value went through (`function-after[...]`, `str`) in the
    # location of a union member; a client knows only the field.
    parts = [str(p) for p in loc if p != "[key]" and not (
        isinstance(p, str) and ("[" in p or p in ("str", "int", "bool", "float", "none")))]
    return ".".join(parts) or None


def _is_missing_body(error: Mapping[str, Any]) -> bool:
    return error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",)


def _reason_of(error: Mapping[str, Any]) -> str:
    if _is_missing_body(error):
        return "the request needs a JSON body"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return message


async def _on_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.field, **exc.details),
                        status_code=exc.status, headers=exc.headers)


async def _on_not_found(_: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("not_found", str(exc)), status_code=404)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_of(first)
    problems = [{"field": _field_of(e), "reason": _reason_of(e)}
                for e in errors[:MAX_REPORTED_PROBLEMS]]
    message = _reason_of(first)
    if field:
        message = f"{field}: {message}"
    details: dict[str, Any] = {"problems": problems}
    if len(errors) > MAX_REPORTED_PROBLEMS:
        details["problems_omitted"] = len(errors) - MAX_REPORTED_PROBLEMS
    # Always `field` in the body, null for a body that is not JSON.
    body = error_body("validation_error", message, None, **details)
    body["error"]["field"] = field
    return JSONResponse(body, status_code=422)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route whose path matched; a path
        # served by several routes (GET and POST) answers with all of them.
        headers = {**(headers or {}), "Allow": ", ".join(_methods_of(request))}
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                        headers=headers)


def _routes(routes: Any) -> Any:
    try:  # FastAPI that keeps included routers whole: their routes are reached this way
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - a FastAPI with flat routes
        return routes
    return iter_route_contexts(routes)


def _methods_of(request: Request) -> list[str]:
    """Every method some route serves at the request's path (included routers too)."""
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        path, served = getattr(route, "path", None), getattr(route, "methods", None)
        if path and served and compile_path(path)[0].match(request.url.path):
            methods.update(served)
    methods.discard("HEAD")
    return sorted(methods)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    if not quotes_values(exc):
        log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__,
                  exc_info=exc)
    else:  # the frames and what names the error: the logs outlive an erasure
        log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__,
                  error=without_values(exc),
                  stack="".join(traceback.format_tb(exc.__traceback__))[-4000:])
    return JSONResponse(error_body("internal", "internal error; see the service's logs"),
                        status_code=500)


class RequestBodyGuard:
    """Pure ASGI: a body larger than the cap is refused with 413 before anything parses it
    (a 13 MB body of unknown keys once held the event loop for seconds), and a body that is
    not JSON is refused with 415 (not a confusing 422)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        media_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0]
        media_type = media_type.strip().lower()
        if body.strip() and not (media_type == "application/json"
                                 or (media_type.startswith("application/")
                                     and media_type.endswith("+json"))):
            await self._refuse(send, 415, error_body(
                "unsupported_media_type", "send the body as JSON with "
                "'Content-Type: application/json'", "Content-Type"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> dict[str, Any]:
        return error_body("payload_too_large",
                          f"the request body is larger than {self.max_body_bytes} bytes")

    @staticmethod
    async def _refuse(send: Send, status: int, body: dict[str, Any]) -> None:
        response = JSONResponse(body, status_code=status)
        await send({"type": "http.response.start", "status": status,
                    "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


def _max_body_bytes_of(app: FastAPI) -> int:
    runtime = getattr(app.state, "runtime", None)
    return int(getattr(getattr(runtime, "settings", None), "http_max_body_bytes",
                       DEFAULT_MAX_BODY_BYTES))


def install_error_handlers(app: FastAPI) -> None:
    """The error format for every failure, and the guard on request bodies (its cap is the
    service's `http_max_body_bytes` setting when the app carries its runtime)."""
    app.add_middleware(RequestBodyGuard, max_body_bytes=_max_body_bytes_of(app))
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
    router = APIRouter(tags=["operations"], generate_unique_id_function=lambda route: route.name)

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

    @router.get("/metrics", response_class=Response, responses={200: {
        "description": "Prometheus text exposition format",
        "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
