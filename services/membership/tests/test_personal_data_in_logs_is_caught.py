"""The log check itself can fail: a line with a member's email or tax code is caught."""

from __future__ import annotations

import pytest
from personal_data_in_logs import personal_data_in

pytest_plugins = ["pytester"]


def test_a_logged_email_or_tax_code_is_found() -> None:
    line = '{"event": "registered", "email": "Giulia@Example.org", "tax_code": "BNCGLI90A41F965D"}'
    assert set(personal_data_in(line)) == {"giulia@example.org", "bncgli90a41f965d"}
    assert personal_data_in('{"event": "registered", "member_id": "5f0c6a9e"}') == []


def test_a_test_that_logs_personal_data_fails(pytester: pytest.Pytester,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makeconftest("from personal_data_in_logs import pytest_runtest_makereport\n")
    pytester.makepyfile(test_leak="""
        def test_logs_an_email():
            print('{"event": "registered", "email": "giulia@example.org"}')

        def test_logs_an_id():
            print('{"event": "registered", "member_id": "5f0c6a9e"}')
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*personal data in the service's logs (call)*giulia@example.org*"])
    capsys.readouterr()  # the inner run's report quotes the email: not this test's logs
