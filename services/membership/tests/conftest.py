from membership_support import PERSONAL_DATA, svc

from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: every membership test also checks its captured output for what
# the suite sends about people (see cowork.devtools.personal_data).
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])

__all__ = ["pytest_runtest_makereport", "svc"]
