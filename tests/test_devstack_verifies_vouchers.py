"""`make run` (cowork-devstack services-up) runs the vouchers verify once the services and their
demo data are up: a failing verify fails the command and prints each mismatch."""

from __future__ import annotations

import subprocess

import pytest

from cowork.devstack import cli, services


@pytest.mark.parametrize(("returncode", "output", "exit_code"), [
    (0, "verify: OK: 1 programme(s)", 0),
    (1, "MISMATCH balances: programme p: available: ledger 1, balances row 2", 1),
])
def test_services_up_runs_the_vouchers_verify(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str],
                                              returncode: int, output: str,
                                              exit_code: int) -> None:
    ran = []
    monkeypatch.setattr(services, "start_services", lambda cfg: [])

    def verify(cfg: object) -> subprocess.CompletedProcess[str]:
        ran.append(cfg)
        return subprocess.CompletedProcess(["verify"], returncode, output + "\n", "")

    monkeypatch.setattr(services, "verify_vouchers", verify)
    assert cli.main(["services-up"]) == exit_code
    printed = capsys.readouterr()
    assert ran and output in printed.out
    assert ("FAILED" in printed.err) == (exit_code == 1)
