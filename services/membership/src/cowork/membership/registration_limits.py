"""Who an anonymous registration is counted against: moved to cowork.shared (community counts
its meeting registrations the same way); kept here under its old name."""

from cowork.shared.registration_limits import (
    address_identity,
    client_address,
    client_identity,
    digest,
    limit_key,
    trusted_networks,
)

__all__ = ["address_identity", "client_address", "client_identity", "digest", "limit_key",
           "trusted_networks"]
