"""No personal data in logs, as a pytest hook: after every test, the output pytest captured (a
service's structlog lines on stdout, stdlib logging on stderr and in the log section) is
searched for the test members' names, emails, tax codes and phones; a find fails a test that
would otherwise pass. Each suite installs it from its conftest with the personal data it sends:

    pytest_runtest_makereport = personal_data_in_logs(PERSONAL_VALUES, patterns=[...])

so every API test of the suite is also this test.

`values` are matched case-insensitively as substrings (a service may upper- or lower-case a
tax code or an email); `patterns` are regular expressions for data a suite makes up per test
(e.g. an email with a random local part), also matched case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Any address at the example domains the suites use for members: the suites make some up per
# test (`m1a2b3c4@example.org`), so a list of values could not name them all.
EXAMPLE_EMAIL = r"[a-z0-9._%+-]+@(?:[a-z0-9-]+\.)*example\.org"


@dataclass(frozen=True)
class PersonalData:
    """The personal data one suite sends, in the forms a service might log it."""

    values: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def of(cls, values: Iterable[object], patterns: Iterable[str] = ()) -> PersonalData:
        lowered = sorted({str(value).strip().lower() for value in values if value} - {""})
        return cls(tuple(lowered), tuple(re.compile(p, re.IGNORECASE) for p in patterns))

    def found_in(self, text: str) -> list[str]:
        """The personal values (and pattern matches, lower-cased) that occur in `text`."""
        lowered = text.lower()
        found = [value for value in self.values if value in lowered]
        for pattern in self.patterns:
            found.extend(sorted({m.group(0).lower() for m in pattern.finditer(text)} - set(found)))
        return found


def personal_values(*bodies: dict[str, Any],
                    keys: Iterable[str] = ("full_name", "email", "phone", "tax_code")
                    ) -> list[str]:
    """The personal values of request bodies (members as the suites register them)."""
    wanted = set(keys)
    return [str(value) for body in bodies for key, value in body.items()
            if key in wanted and value]


def personal_data_in_logs(values: Iterable[object], patterns: Iterable[str] = ()
                          ) -> Callable[..., Iterator[None]]:
    """A `pytest_runtest_makereport` hook failing a test whose captured output (setup, call or
    teardown) contains one of `values` or a match of one of `patterns`."""
    personal = PersonalData.of(values, patterns)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()  # type: ignore[attr-defined]
        captured = "".join(content for name, content in report.sections
                           if name.startswith("Captured") and name.endswith(call.when))
        leaked = personal.found_in(captured)
        if leaked and report.passed:
            report.outcome = "failed"
            report.longrepr = f"personal data in the service's logs ({call.when}): {leaked}"

    pytest_runtest_makereport.personal_data = personal  # type: ignore[attr-defined]
    return pytest_runtest_makereport
