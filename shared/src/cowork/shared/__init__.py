"""Cowork's shared library: event contracts, outbox and inbox, broker, database, settings,
logging, HTTP and auth helpers used by every service."""
