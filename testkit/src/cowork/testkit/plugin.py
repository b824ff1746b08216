"""The pytest fixture `cowork_stack`, registered through the `pytest11` entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cowork.testkit.stack import CoworkStack, start_stack


@pytest.fixture(scope="session")
def cowork_stack() -> Iterator[CoworkStack]:
    """Every Cowork service with its own Kafka and PostgreSQL, for the whole test session."""
    with start_stack() as stack:
        yield stack
