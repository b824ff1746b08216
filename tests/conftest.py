from collections.abc import Iterator
from pathlib import Path

import pytest

from cowork.devstack.mailsink import EmlWriter, listening
from cowork.devtools import free_port
from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: the cross-service tests register these members (and others with
# emails made up per test, hence the pattern); no service may log them.
PERSONAL_DATA = ["Giulia Bianchi", "giulia@example.org", "BNCGLI90A41F965D", "Marco Rossi",
                 "marco@example.org", "Anna Rossi", "Utente Di Prova", "fuzz@example.org",
                 "VRDLCU80C01F965J", "Utente Generato", "generato@example.org"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, EmlWriter]]:
    """An SMTP server for the services under test: its port, and the messages it took."""
    port = free_port()
    with listening(tmp_path / "mail", port) as writer:
        yield port, writer
