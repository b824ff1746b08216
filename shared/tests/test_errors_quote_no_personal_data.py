"""PostgreSQL's errors quote the data: a unique violation's DETAIL says `Key (email)=(...)`,
a check or not-null violation's `Failing row contains (...)` the whole row, the one on file
included. What an operator reads of such an error (a dead letter's `x-error` and
`x-stacktrace`, which outlive an erasure; the consumer's retry warnings; the HTTP layer's
unhandled-error line) names the error, its SQLSTATE, constraint and table, never the values."""

# No `from __future__ import annotations`: FastAPI reads the route's annotations.

import asyncio
import io
import json
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import structlog
import uvicorn
from aiokafka import ConsumerRecord
from fastapi import FastAPI

from cowork.devtools import free_port
from cowork.shared.dead_letters import dead_letter_headers, reason
from cowork.shared.http import install_error_handlers
from cowork.shared.logging import configure_logging

pytestmark = [pytest.mark.infra]

ON_FILE = "anna.bianchi@example.org"  # the member's address in the database, not in the event
NAME = "Anna Bianchi"


async def _check_violation(pool: asyncpg.Pool) -> asyncpg.PostgresError:
    """An event changing only a member's language to one the table refuses: PostgreSQL
    quotes the failing row, with the name and address on file."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS replica_contacts (member_id text "
                           "PRIMARY KEY, full_name text, email text, language text "
                           "CHECK (language IN ('it', 'en')))")
        await conn.execute("INSERT INTO replica_contacts VALUES ('m-1', $1, $2, 'it') "
                           "ON CONFLICT DO NOTHING", NAME, ON_FILE)
        try:
            await conn.execute("UPDATE replica_contacts SET language = $1 WHERE member_id = $2",
                               "xx", "m-1")
        except asyncpg.PostgresError as exc:
            return exc
    raise AssertionError("the update was accepted")


async def test_a_dead_letter_does_not_quote_the_row_postgresql_refused(
        pool: asyncpg.Pool) -> None:
    error = await _check_violation(pool)
    assert ON_FILE in str(error), "PostgreSQL does quote the row (the premise)"
    payload = json.dumps({"member_id": "m-1", "language": "xx"}).encode()
    card = ConsumerRecord("membership.contacts", 0, 3, 0, 0, b"m-1", payload, None, 0, 0, [])
    headers = dict(dead_letter_headers(card, error, attempts=5, consumer_group="svc.contacts"))
    quoted = headers["x-error"] + headers["x-stacktrace"]
    assert ON_FILE.encode() not in quoted and NAME.encode() not in quoted, (
        "the DLQ outlives the erasure: no value of the row on file in it")
    assert b"CheckViolationError" in headers["x-error"]
    assert b"replica_contacts_language_check" in headers["x-error"], "the constraint is named"
    assert ON_FILE not in reason(error, payload), "nor in the retry warnings' reason"


@pytest.fixture
def rendered_logs() -> Iterator[io.StringIO]:
    """The log lines as a service renders them (JSON), written here instead of stdout."""
    saved = structlog.get_config()
    configure_logging("test")
    written = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=written))
    yield written
    structlog.configure(**saved)


async def test_an_unhandled_error_logs_no_value_postgresql_quoted(
        pool: asyncpg.Pool, rendered_logs: io.StringIO) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.patch("/v1/members/m-1")
    async def change_language() -> None:
        raise await _check_violation(pool)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        response = await client.patch("/v1/members/m-1")
    assert response.status_code == 500
    written = rendered_logs.getvalue()
    assert "unhandled error" in written, "the line was read"
    assert "CheckViolationError" in written and "change_language" in written, (
        "the error and where it happened are still told")
    assert ON_FILE not in written and NAME not in written


async def test_the_http_server_does_not_log_the_error_again_with_its_text(
        pool: asyncpg.Pool, capfd: pytest.CaptureFixture[str]) -> None:
    """Starlette re-raises what its error handler answered with 500 "so that servers can log
    it": uvicorn (`serve`: log level warning) writes "Exception in ASGI application" with the
    whole exception, DETAIL and all, to stderr."""
    saved = structlog.get_config()
    configure_logging("test")  # as a service's create_app does
    try:
        app = FastAPI()
        install_error_handlers(app)

        @app.patch("/v1/members/m-1")
        async def change_language() -> None:
            raise await _check_violation(pool)

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(100):
                    if server.started:
                        break
                    await asyncio.sleep(0.05)
                response = await client.patch("/v1/members/m-1")
        finally:
            server.should_exit = True
            await serving
    finally:
        structlog.configure(**saved)
    assert response.status_code == 500
    written = "".join(capfd.readouterr())
    assert "Exception in ASGI application" in written, "the server's line was read"
    assert written.count("CheckViolationError (sqlstate 23514") == 2, "the error is still told"
    assert ON_FILE not in written and NAME not in written
