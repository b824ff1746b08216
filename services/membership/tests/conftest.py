from membership_testkit import svc
from personal_data_in_logs import pytest_runtest_makereport

__all__ = ["pytest_runtest_makereport", "svc"]
