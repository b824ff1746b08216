from vouchers_support import svc

from cowork.devtools.personal_data import EXAMPLE_EMAIL, personal_data_in_logs

# No personal data in logs: declarations may carry a tax code (the de minimis register is kept
# by it) and the member cards a name; the service must log neither.
PERSONAL_DATA = ["RSSMRA90E17F205X", "RSSMRA90E17F205Z", "RSSMRAVLE17F205Z", "BNCGLI90A41F965D",
                 "VRDLCU80C01F965J", "Giulia Bianchi", "giulia@example.org"]
pytest_runtest_makereport = personal_data_in_logs(PERSONAL_DATA, patterns=[EXAMPLE_EMAIL])

__all__ = ["pytest_runtest_makereport", "svc"]
