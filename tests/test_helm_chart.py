"""The Helm chart (deploy/helm/cowork) as an operator installs it: `helm lint` and `helm
template` run on it for real, and what it renders is read back — every service runs with the
settings its own settings class reads (a misspelt variable would be silently ignored by the
service, so it fails here), secrets come only from Secrets, probes and migrations are where
operations.md says, and values that cannot work are refused at install time."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from cowork.booking.app import BookingSettings
from cowork.membership.app import MembershipSettings
from cowork.notifications.app import NotificationsSettings
from cowork.shared.settings import ServiceSettings
from cowork.vouchers.app import VouchersSettings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "cowork"
SETTINGS: dict[str, type[ServiceSettings]] = {"membership": MembershipSettings,
                                              "booking": BookingSettings,
                                              "notifications": NotificationsSettings,
                                              "vouchers": VouchersSettings}


def _helm() -> str:
    found = shutil.which("helm") or str(ROOT / ".devstack" / "bin" / "helm")
    if not os.access(found, os.X_OK):
        pytest.fail("helm is missing: `make test` builds it (deploy/local/scripts/install-helm.sh)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, check=False)


def _render(*sets: str) -> list[dict[str, Any]]:
    done = _run("template", "town", str(CHART), *(a for s in sets for a in ("--set", s)))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _of(docs: list[dict[str, Any]], kind: str, service: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind
            and d["metadata"]["labels"]["app.kubernetes.io/component"] == service]


def _variables_read_by(settings: type[ServiceSettings]) -> set[str]:
    """The environment variables a settings class reads: an alias when a field has one
    (the shared COWORK_* ones), else its prefix and the field's name."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def test_the_chart_lints_strictly() -> None:
    done = _run("lint", str(CHART), "--strict")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_service_of_the_repository_is_in_the_chart() -> None:
    built = {p.parent.name for p in (ROOT / "services").glob("*/src/cowork/*/app.py")}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["services"]) == built == set(SETTINGS)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_runs_with_the_settings_it_reads(service: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _render("kafka.bootstrap=kafka.town:9092", "topicPrefix=prod.",
                   f"services.{service}.env.{service.upper()}_DB_POOL_MAX=20")
    [deployment] = _of(docs, "Deployment", service)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"cowork.{service}"]
    assert container["args"] == ["serve"]
    env = container["env"]
    unknown = {e["name"] for e in env} - _variables_read_by(SETTINGS[service])
    assert not unknown, f"{service} does not read {sorted(unknown)}"

    # Secrets only by reference: no value of the chart holds one.
    by_name = {e["name"]: e for e in env}
    for secret in (f"{service.upper()}_DATABASE_URL", "COWORK_JWT_SECRET"):
        assert "value" not in by_name[secret] and "secretKeyRef" in by_name[secret]["valueFrom"]

    # What the service makes of that environment (the Secrets' contents filled in).
    for variable in list(os.environ):
        if variable.startswith((f"{service.upper()}_", "COWORK_")):
            monkeypatch.delenv(variable)
    secrets = {f"{service.upper()}_DATABASE_URL": "postgresql://svc@db:5432/cowork",
               "COWORK_JWT_SECRET": "from-the-secret-of-enough-length-for-hs256"}
    for e in env:
        monkeypatch.setenv(e["name"], e["value"] if "value" in e else secrets[e["name"]])
    settings = SETTINGS[service]()
    port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert settings.kafka_bootstrap == "kafka.town:9092"
    assert settings.topic_prefix == "prod."
    assert settings.db_pool_max == 20
    assert settings.log_json is True
    assert settings.database_url.get_secret_value() == secrets[f"{service.upper()}_DATABASE_URL"]
    assert settings.jwt_secret.get_secret_value() == secrets["COWORK_JWT_SECRET"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_probes_shutdown_and_security_follow_operations_md(service: str) -> None:
    docs = _render()
    [deployment] = _of(docs, "Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # uvicorn drains for 20 s and the consumers finish their batch within 15 s of SIGTERM.
    assert pod["terminationGracePeriodSeconds"] > 35
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    [svc] = _of(docs, "Service", service)
    assert svc["spec"]["selector"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert len(_of(docs, "PodDisruptionBudget", service)) == 1


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_migrations_run_as_a_hook_before_the_pods(service: str) -> None:
    [job] = _of(_render(), "Job", service)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert (container["command"], container["args"]) == \
        (["python", "-m", f"cowork.{service}"], ["migrate"])
    assert {e["name"] for e in container["env"]} >= {f"{service.upper()}_DATABASE_URL"}
    assert _of(_render("migrations.enabled=false"), "Job", service) == []


def test_a_disabled_service_renders_nothing() -> None:
    docs = _render("services.booking.enabled=false")
    assert [d for d in docs if d["metadata"]["labels"]["app.kubernetes.io/component"] == "booking"] == []
    assert len(_of(docs, "Deployment", "membership")) == 1


def test_the_prometheus_operator_scrape_is_optional() -> None:
    assert [d for d in _render() if d["kind"] == "ServiceMonitor"] == []
    monitors = [d for d in _render("metrics.serviceMonitor.enabled=true")
                if d["kind"] == "ServiceMonitor"]
    assert sorted(m["spec"]["endpoints"][0]["path"] for m in monitors) == \
        ["/metrics"] * len(SETTINGS)


@pytest.mark.parametrize(("setting", "complaint"), [
    ("jwt.existingSecret=", "existingSecret"),
    ("services.booking.database.existingSecret=", "existingSecret"),
    ("services.bookings.enabled=true", "bookings"),          # a misspelt service
    ("services.booking.env.booking_cutoff=1", "booking_cutoff"),  # not a variable's name
    ("terminationGracePeriodSeconds=10", "terminationGracePeriodSeconds"),
    # a secret as a plain value would sit in the release history: only by Secret
    ("services.booking.env.BOOKING_DATABASE_URL=postgresql://u:p@db/x", "BOOKING_DATABASE_URL"),
])
def test_values_that_cannot_work_are_refused_at_install(setting: str, complaint: str) -> None:
    done = _run("template", "town", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert complaint in done.stderr
