from booking_testkit import svc

__all__ = ["svc"]
