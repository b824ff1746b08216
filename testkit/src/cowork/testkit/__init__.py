"""Cowork in containers for a partner's own test suite.

    def test_my_consumer_sees_registrations(cowork_stack):
        member = cowork_stack.http("membership").post("/v1/members", json={...}).json()
        event = cowork_stack.wait_for("cowork.membership.member.registered.v1", key=member["id"])

`cowork_stack` (a session-scoped pytest fixture, registered when this package is installed)
starts Kafka, PostgreSQL and every Cowork service in the images `make images` builds, on free
ports of 127.0.0.1, and removes them at the end of the session. It gives:

- `kafka_bootstrap`, and `url(service)` for each service's HTTP API;
- `token(role, sub=...)`: a JWT the services accept (roles: member, staff, officer, partner);
- `publish(event_type, key, data, topic=...)`: a CloudEvent as Cowork publishes it (binary
  mode: ce_* headers, JSON value, the aggregate id as key), e.g. to test a consumer's handling
  of an event the stack would take long to produce;
- `wait_for(event_type, key=None, timeout=30)`: the first record of that type (and key) on
  Cowork's topics, as a `ReceivedEvent` with its headers and data.
"""

from cowork.testkit.stack import CoworkStack, ReceivedEvent, start_stack

__all__ = ["CoworkStack", "ReceivedEvent", "start_stack"]
