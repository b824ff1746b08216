from vouchers_testkit import svc

__all__ = ["svc"]
