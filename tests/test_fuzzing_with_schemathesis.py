"""A property-based API fuzzer (schemathesis) against membership and booking, each running as
a real server on the real stack: every operation, with a member, a staff and an officer token,
answers no 5xx, only documented statuses, and bodies that conform to the OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cowork.devtools import Infra, free_port
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES_PER_OPERATION = int(os.environ.get("COWORK_FUZZ_EXAMPLES", "12"))


@contextmanager
def running(service: str, database_url: str, infra: Infra, topic_prefix: str) -> Iterator[str]:
    port, prefix = free_port(), service.upper()
    env = {**os.environ, "COWORK_ENV": "local", "COWORK_TOPIC_PREFIX": topic_prefix,
           f"{prefix}_DATABASE_URL": database_url, f"{prefix}_KAFKA_BOOTSTRAP":
           infra.kafka_bootstrap, f"{prefix}_HTTP_PORT": str(port),
           f"{prefix}_RUN_SCHEDULER": "false", f"{prefix}_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", f"cowork.{service}", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, f"{service} did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(30)


def _bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])}"}


def fuzz(base: str, member_id: str) -> list[str]:
    """Every operation of the running service; the failures, described (and a failure if the
    fuzzer did not in fact exercise every operation)."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    tokens = [_bearer("member", member_id), _bearer("staff", "staff-1"),
              _bearer("officer", "officer-1")]
    failures: list[str] = []
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        calls[operation.label] = 0

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            for headers in tokens:
                response = case.call(base_url=base, headers=headers, timeout=30)
                calls[case.operation.label] += 1
                case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            check()
        except Exception as exc:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label}: {exc}"[:2000])
    if len(calls) < 10 or min(calls.values()) < 3:
        failures.append(f"the fuzzer barely ran: {calls}")
    return failures


def test_membership_under_the_fuzzer(infra: Infra, database_url: str,
                                     topic_prefix: str) -> None:
    with running("membership", database_url, infra, topic_prefix) as base:
        registered = httpx.post(f"{base}/v1/members", json={
            "kind": "person", "full_name": "Utente Di Prova", "email": "fuzz@example.org",
            "tax_code": "VRDLCU80C01F965J", "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        assert fuzz(base, registered.json()["id"]) == []


def test_booking_under_the_fuzzer(infra: Infra, database_url: str, topic_prefix: str) -> None:
    with running("booking", database_url, infra, topic_prefix) as base:
        assert fuzz(base, str(uuid4())) == []
