"""The log check itself can fail: a line with a member's email or tax code is caught, by the
shared hook every suite installs (cowork.devtools.personal_data)."""

from __future__ import annotations

import pytest
from membership_support import PERSONAL_DATA

from cowork.devtools.personal_data import EXAMPLE_EMAIL, PersonalData

pytest_plugins = ["pytester"]


def test_a_logged_email_or_tax_code_is_found() -> None:
    personal = PersonalData.of(PERSONAL_DATA)
    line = '{"event": "registered", "email": "Giulia@Example.org", "tax_code": "BNCGLI90A41F965D"}'
    assert set(personal.found_in(line)) == {"giulia@example.org", "bncgli90a41f965d"}
    assert personal.found_in('{"event": "registered", "member_id": "5f0c6a9e"}') == []


def test_an_email_made_up_per_test_is_found_by_its_pattern() -> None:
    personal = PersonalData.of([], patterns=[EXAMPLE_EMAIL])
    assert personal.found_in("sent to M1a2b3c4@example.org") == ["m1a2b3c4@example.org"]
    assert personal.found_in("sent to anna.x@mail.gavi.example.org!") == [
        "anna.x@mail.gavi.example.org"]
    assert personal.found_in("sent from noreply@cowork.localhost to member 5f0c6a9e") == []


# A leak in a fixture's setup or teardown is an error of the test; pytest counts a test whose
# teardown errs as passed too (its call did pass), hence two passes then.
@pytest.mark.parametrize(("phase", "outcomes"), [
    ("setup", {"passed": 1, "errors": 1}),
    ("call", {"passed": 1, "failed": 1}),
    ("teardown", {"passed": 2, "errors": 1}),
])
def test_a_test_that_logs_personal_data_fails(pytester: pytest.Pytester,
                                              capsys: pytest.CaptureFixture[str],
                                              phase: str, outcomes: dict[str, int]) -> None:
    pytester.makeconftest("""
        import pytest
        from cowork.devtools.personal_data import personal_data_in_logs

        pytest_runtest_makereport = personal_data_in_logs(["Giulia@example.org", "Giulia Bianchi"])

        @pytest.fixture
        def leaky():
            if PHASE == "setup":
                print('{"event": "registered", "email": "giulia@example.org"}')
            yield
            if PHASE == "teardown":
                print('{"event": "erased", "full_name": "GIULIA BIANCHI"}')
    """.replace("PHASE", repr(phase)))
    pytester.makepyfile(test_leak=f"""
        def test_logs_personal_data(leaky):
            if {phase!r} == "call":
                import sys
                print("mail to giulia@example.org failed", file=sys.stderr)

        def test_logs_an_id():
            print('{{"event": "registered", "member_id": "5f0c6a9e"}}')
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.parseoutcomes() == outcomes, result.stdout.str()
    result.stdout.fnmatch_lines([f"*personal data in the service's logs ({phase})*"])
    capsys.readouterr()  # the inner run's report quotes the email: not this test's logs
