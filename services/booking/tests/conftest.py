from booking_support import svc

from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs. Booking knows members by id only (membership.activated carries no
# name or contact), so any name, email or tax code of the suites' members in its logs is a leak.
PERSONAL_DATA = ["Giulia Bianchi", "giulia@example.org", "BNCGLI90A41F965D", "+39 0143 000001",
                 "Anna Rossi", "Marco Rossi"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])

__all__ = ["pytest_runtest_makereport", "svc"]
