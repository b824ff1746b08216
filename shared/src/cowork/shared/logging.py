"""structlog JSON logs. Context (event id/type, trace id) is bound per message with contextvars,
so every line written while a handler runs carries it."""

from __future__ import annotations

import logging
import sys
import traceback

import structlog

from cowork.shared.failures import quotes_values, without_values

# Loggers of others that write an exception with its text: uvicorn ("Exception in ASGI
# application": Starlette re-raises what its handler answered with 500, so that the server
# logs it) and asyncio (a task's exception nobody retrieved).
_QUOTING_LOGGERS = ("uvicorn.error", "asyncio")


def configure_logging(service: str, level: str = "INFO", *, json: bool = True) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # aiokafka reports every reconnect attempt at ERROR; the consumer's own lines say what matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    for name in _QUOTING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WithoutExceptionText) for f in logger.filters):
            logger.addFilter(_WithoutExceptionText())


class _WithoutExceptionText(logging.Filter):
    """An exception whose text quotes values (PostgreSQL's DETAIL shows the row it refused,
    the member's data on file included; pydantic's errors their input) logged with its frames
    and what it says without them: the logs outlive an erasure."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and quotes_values(error):
            frames = "".join(traceback.format_tb(error.__traceback__))
            record.msg = (f"{record.getMessage()}\n{frames}{type(error).__name__}: "
                          f"{without_values(error)}")
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
