"""Cowork notifications: e-mail, signed partner webhooks, reminders, delivery log."""
