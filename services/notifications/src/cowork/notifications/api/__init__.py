"""HTTP API v1 of the notifications service (docs/api/notifications.md), one router per OpenAPI tag."""

from cowork.notifications.api import deliveries, preferences, webhooks

ROUTERS = [webhooks.router, deliveries.router, preferences.router]
