from community_support import svc

from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: registrations carry names and addresses; the service logs neither.
PERSONAL_DATA = ["Persona ", "Giulia Bianchi"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])

__all__ = ["pytest_runtest_makereport", "svc"]
