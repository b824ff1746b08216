from membership_testkit import svc

__all__ = ["svc"]
