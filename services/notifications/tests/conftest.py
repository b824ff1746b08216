from notifications_support import receiver, smtp_sink, svc

from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: contact cards carry a member's name and email (the suite makes the
# email up per member, `m1a2b3c4@example.org`, hence the pattern); the service mails them but
# must never log them.
PERSONAL_DATA = ["Giulia Bianchi", "giulia@example.org", "Anna Rossi", "anna.rossi@example.org"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])

__all__ = ["pytest_runtest_makereport", "receiver", "smtp_sink", "svc"]
