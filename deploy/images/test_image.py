"""The container image as the Helm chart runs it: each service applies its migrations with
`migrate`, serves with `serve` as an unprivileged user on a read-only root filesystem, answers
its probes and its API (401 without a token, 200 with one), and stops cleanly on SIGTERM. The
image holds the services and nothing of the development tools: neither Cowork's own test
support (cowork.devtools) nor the partners' testkit, the local devstack or pytest.

Not part of `make test` (it needs root: it starts a Docker engine and builds the image with
deploy/images/build-local.sh); run it with `make image-test`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cowork.devtools import Infra, free_port
from cowork.shared.auth import issue_token

pytestmark = [pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("COWORK_IMAGE", "cowork:dev")
SECRET = "image-test-secret-of-enough-length-for-hs256"
# A read of each service's API: one that needs a token and nothing else, or, for community,
# its public list of meetings (citizens read it without an account).
PROBE_READ = {"membership": "/v1/plans", "booking": "/v1/spaces", "vouchers": "/v1/programmes",
              "community": "/v1/meetings"}
PUBLIC_READ = {"community"}
SERVICES = ("cowork.membership.app", "cowork.booking.app", "cowork.vouchers.app",
            "cowork.notifications.app", "cowork.community.app")
DEVELOPMENT_ONLY = ("cowork.devtools", "cowork.testkit", "cowork.devstack", "pytest",
                    "testcontainers")
# Run by the image's python with module names as arguments: how importing each one ends.
IMPORT_EACH = """
import importlib, json, sys
ends = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        ends[name] = "imported"
    except ImportError as exc:
        ends[name] = type(exc).__name__
print(json.dumps(ends))
"""


@pytest.fixture(scope="module")
def docker() -> dict[str, str]:
    env = {**os.environ,
           "DOCKER_HOST": f"unix://{ROOT / '.devstack' / 'docker' / 'docker.sock'}"}
    subprocess.run([str(ROOT / "deploy" / "images" / "build-local.sh"), IMAGE], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return env


def test_the_image_has_the_services_and_no_development_tools(docker: dict[str, str]) -> None:
    ran = subprocess.run(["docker", "run", "--rm", "--network", "host", "--read-only", IMAGE,
                          "python", "-c", IMPORT_EACH, *SERVICES, *DEVELOPMENT_ONLY],
                         env=docker, capture_output=True, text=True, check=True)
    ends = json.loads(ran.stdout.strip().splitlines()[-1])
    assert {name: ends[name] for name in SERVICES} == dict.fromkeys(SERVICES, "imported")
    assert {name: ends[name] for name in DEVELOPMENT_ONLY} == dict.fromkeys(
        DEVELOPMENT_ONLY, "ModuleNotFoundError")


# Run by the image's python: community's charts (the council's report, the public pages) with
# matplotlib as the pods have it — no system fonts or libraries installed, a read-only root
# filesystem and only /tmp writable.
DRAW_A_CHART = """
import io, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
figure, axes = plt.subplots()
axes.bar(["lun", "mar"], [3, 5])
axes.set_title("Occupazione")
png = io.BytesIO()
figure.savefig(png, format="png")
print(len(png.getvalue()), png.getvalue()[:8] == b"\\x89PNG\\r\\n\\x1a\\n")
"""


def test_the_image_draws_community_charts_read_only(docker: dict[str, str]) -> None:
    ran = subprocess.run(["docker", "run", "--rm", "--network", "host", "--read-only",
                          "--tmpfs", "/tmp", IMAGE, "python", "-c", DRAW_A_CHART],
                         env=docker, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    size, is_png = ran.stdout.split()
    assert is_png == "True" and int(size) > 1000
    assert "findfont" not in ran.stderr  # the DejaVu fonts inside matplotlib were found


def _get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=5).status_code


@pytest.mark.parametrize("service", sorted(PROBE_READ))
def test_each_service_runs_from_the_image(service: str, docker: dict[str, str], infra: Infra,
                                         database_url: str, topic_prefix: str) -> None:
    port, prefix = free_port(), service.upper()
    settings = {f"{prefix}_HTTP_HOST": "0.0.0.0", f"{prefix}_HTTP_PORT": str(port),  # noqa: S104
                f"{prefix}_DATABASE_URL": database_url,
                f"{prefix}_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
                "COWORK_TOPIC_PREFIX": topic_prefix, "COWORK_JWT_SECRET": SECRET}
    run = ["docker", "run", "--network", "host", "--read-only", "--tmpfs", "/tmp",
           *(a for k, v in settings.items() for a in ("-e", f"{k}={v}"))]

    migrated = subprocess.run([*run, "--rm", IMAGE, "python", "-m", f"cowork.{service}",
                               "migrate"], env=docker, capture_output=True, text=True, check=True)
    assert f"{service}/0001_" in migrated.stdout

    container = subprocess.run([*run, "-d", IMAGE, "python", "-m", f"cowork.{service}", "serve"],
                               env=docker, capture_output=True, text=True,
                               check=True).stdout.strip()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if _get(base + "/readyz") == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("the service never became ready")
        if service in PUBLIC_READ:
            assert _get(base + PROBE_READ[service]) == 200
        else:
            assert _get(base + PROBE_READ[service]) == 401
            token = issue_token(SECRET, sub="staff-1", roles=["staff"])
            assert _get(base + PROBE_READ[service], token) == 200
        user = subprocess.run(["docker", "exec", container, "id", "-u"], env=docker,
                              capture_output=True, text=True, check=True).stdout.strip()
        assert user == "10001"
    finally:
        subprocess.run(["docker", "stop", "-t", "30", container], env=docker, check=False,
                       stdout=subprocess.DEVNULL)
    status = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
                            env=docker, capture_output=True, text=True, check=True).stdout.strip()
    logs = subprocess.run(["docker", "logs", container], env=docker, capture_output=True,
                          text=True, check=True)
    subprocess.run(["docker", "rm", container], env=docker, check=False, stdout=subprocess.DEVNULL)
    assert status == "0", logs.stderr[-2000:]
    assert '"event": "service stopped"' in logs.stdout + logs.stderr
