from notifications_testkit import receiver, smtp_sink, svc

__all__ = ["receiver", "smtp_sink", "svc"]
