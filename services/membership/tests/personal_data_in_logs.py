"""No personal data in logs: after every membership test, the output pytest captured (the
service's structlog lines on stdout, stdlib logging on stderr) is searched for the test
members' names, emails, tax codes and phones; a find fails the test. Installed by this folder's
conftest, so every API test is also this test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from membership_testkit import ORGANISATION, PERSON

# What the suites send about people, in the forms a service might log it.
PERSONAL_DATA = sorted({
    str(value).lower() for body in (PERSON, ORGANISATION) for key, value in body.items()
    if key in ("full_name", "email", "phone", "tax_code")
} | {"anna rossi", "anna@gavi.example.org", "vrdlcu80c01f965j", "0143 000001"})


def personal_data_in(text: str) -> list[str]:
    lowered = text.lower()
    return [value for value in PERSONAL_DATA if value in lowered]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    captured = "".join(content for name, content in report.sections
                       if name.startswith("Captured") and name.endswith(call.when))
    leaked = personal_data_in(captured)
    if leaked and report.passed:
        report.outcome = "failed"
        report.longrepr = f"personal data in the service's logs ({call.when}): {leaked}"
