"""The Helm chart (deploy/helm/cowork) as an operator installs it: `helm lint` and `helm
template` run on it for real, and what it renders is read back — every service runs with the
settings its own settings class reads (a misspelt variable would be silently ignored by the
service, so it fails here), secrets come only from Secrets, probes and migrations are where
operations.md says, autoscaling and network policies are what docs/deploy.md promises, every
object passes the Kubernetes API's own schemas, and values that cannot work are refused at
install time."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from cowork.shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "cowork"
PRODUCTION = CHART / "ci" / "production-values.yaml"
# The five services (README.md): the chart carries each, even before its package lands.
PRODUCT_SERVICES = {"membership", "booking", "vouchers", "notifications", "community"}
PORTS = {"membership": 8001, "booking": 8002, "vouchers": 8003, "notifications": 8004,
         "community": 8005}
BUILT = sorted(p.parent.name for p in (ROOT / "services").glob("*/src/cowork/*/app.py"))


def _settings_class(service: str) -> type[ServiceSettings]:
    """The one ServiceSettings subclass a service's app module defines."""
    module = importlib.import_module(f"cowork.{service}.app")
    [found] = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
    return found


SETTINGS: dict[str, type[ServiceSettings]] = {name: _settings_class(name) for name in BUILT}


def _helm() -> str:
    found = shutil.which("helm") or str(ROOT / ".devstack" / "bin" / "helm")
    if not os.access(found, os.X_OK):
        pytest.fail("helm is missing: `make test` builds it (deploy/local/scripts/install-helm.sh)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, check=False)


def _render(*sets: str, values: Path | None = None, chart: Path = CHART) -> list[dict[str, Any]]:
    """`helm template`; a set starting with "str:" is passed with --set-string."""
    files = ["-f", str(values)] if values else []
    flags = [a for s in sets for a in (("--set-string", s[4:]) if s.startswith("str:")
                                       else ("--set", s))]
    done = _run("template", "town", str(chart), *files, *flags)
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
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["services"]) == PRODUCT_SERVICES
    assert set(BUILT) <= PRODUCT_SERVICES
    assert all(values["services"][name]["enabled"] for name in BUILT)
    ports = {name: svc["port"] for name, svc in values["services"].items()}
    assert ports == PORTS
    for name in BUILT:  # the port the chart gives is the service's own default
        assert SETTINGS[name].model_fields["http_port"].default == ports[name]



def test_every_service_is_everywhere_the_others_are() -> None:
    """A service added to the repository is in the tokens' audiences, the local devstack (on
    the chart's port, with its own database), the partners' testkit and the dashboards."""
    from cowork.devstack.services import SERVICES as LOCAL
    from cowork.devstack.stack import SERVICE_DATABASES
    from cowork.shared.auth import SERVICE_AUDIENCES
    from cowork.testkit.stack import EVENT_TOPICS
    from cowork.testkit.stack import SERVICES as TESTKIT

    assert set(SERVICE_AUDIENCES) == PRODUCT_SERVICES
    assert {s.name: s.port for s in LOCAL} == PORTS
    assert set(SERVICE_DATABASES) == PRODUCT_SERVICES
    assert TESTKIT == SERVICE_AUDIENCES  # the testkit cannot import cowork.shared: a copy
    assert {f"cowork.{name}.events" for name in PRODUCT_SERVICES} <= set(EVENT_TOPICS)
    assert {"cowork.membership.contacts", "cowork.community.contacts"} <= set(EVENT_TOPICS)
    dashboards = {p.stem.removeprefix("cowork-") for p in (CHART / "files" / "dashboards")
                  .glob("*.json")}
    assert dashboards == PRODUCT_SERVICES | {"overview"}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_runs_with_the_settings_it_reads(service: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _render("kafka.bootstrap=kafka.town:9092", "topicPrefix=prod.",
                   f"services.{service}.env.{service.upper()}_DB_POOL_MAX=20",
                   "topics.partitions=6", "topics.replicationFactor=3",
                   r"str:topics.config.retention\.ms=1209600000")
    [deployment] = _of(docs, "Deployment", service)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"cowork.{service}"]
    assert container["args"] == ["serve"]
    env = container["env"]
    unknown = {e["name"] for e in env} - _variables_read_by(SETTINGS[service])
    assert not unknown, f"{service} does not read {sorted(unknown)}"

    # Secrets only by reference: no value of the chart holds one.
    by_name = {e["name"]: e for e in env}
    for secret in (f"{service.upper()}_DATABASE_URL", "COWORK_JWT_SECRET",
                   *(["NOTIFICATIONS_WEBHOOK_SECRET_KEYS"] if service == "notifications" else [])):
        assert "value" not in by_name[secret] and "secretKeyRef" in by_name[secret]["valueFrom"]

    # What the service makes of that environment (the Secrets' contents filled in).
    for variable in list(os.environ):
        if variable.startswith((f"{service.upper()}_", "COWORK_")):
            monkeypatch.delenv(variable)
    secrets = {f"{service.upper()}_DATABASE_URL": "postgresql://svc@db:5432/cowork",
               "COWORK_JWT_SECRET": "from-the-secret-of-enough-length-for-hs256",
               # a Fernet key: the webhooks' signing secrets are encrypted at rest
               "NOTIFICATIONS_WEBHOOK_SECRET_KEYS": "ZnJvbS10aGUtc2VjcmV0LWEtZmVybmV0LWtleS0xMjM="}
    for e in env:
        monkeypatch.setenv(e["name"], e["value"] if "value" in e else secrets[e["name"]])
    settings = SETTINGS[service]()
    port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", port)  # noqa: S104
    assert settings.kafka_bootstrap == "kafka.town:9092"
    assert settings.topic_prefix == "prod."
    assert settings.db_pool_max == 20
    assert (settings.topic_partitions, settings.topic_replication_factor) == (6, 3)
    assert settings.topic_config == {"retention.ms": "1209600000"}
    assert settings.log_json is True
    assert settings.database_url.get_secret_value() == secrets[f"{service.upper()}_DATABASE_URL"]
    assert settings.jwt_secret.get_secret_value() == secrets["COWORK_JWT_SECRET"]


@pytest.mark.parametrize("service", sorted(PRODUCT_SERVICES))
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


@pytest.mark.parametrize("service", sorted(PRODUCT_SERVICES))
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
    assert [m["spec"]["endpoints"][0]["path"] for m in monitors] == ["/metrics"] * len(PRODUCT_SERVICES)
    # The services' own `service` label is what the alert rules and dashboards group by: kept,
    # not renamed exported_service by the target's labels.
    assert all(m["spec"]["endpoints"][0]["honorLabels"] is True for m in monitors)


# ---------------------------------------------------------------- dashboards and alert rules

FILES = CHART / "files"


def _monitoring(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind
            and d["metadata"]["labels"]["app.kubernetes.io/component"] == "monitoring"]


def test_dashboards_and_alert_rules_are_off_by_default() -> None:
    docs = _render()
    assert _monitoring(docs, "ConfigMap") == [] and _monitoring(docs, "PrometheusRule") == []


def test_the_alert_rules_ship_as_a_prometheus_rule_exactly_as_promtool_tested_them() -> None:
    [rule] = _monitoring(_render("metrics.prometheusRule.enabled=true",
                                 "metrics.prometheusRule.labels.release=kube-prometheus-stack"),
                         "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    groups = [g for path in sorted((FILES / "alerts").glob("*.rules.yaml"))
              for g in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"] == {"groups": groups}
    # Prometheus' own templates in the annotations reach it untouched by Helm.
    summaries = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels.service }}" in s for s in summaries)


def test_each_dashboard_ships_as_a_configmap_for_the_grafana_sidecar() -> None:
    docs = _render("metrics.dashboards.enabled=true", "metrics.dashboards.namespace=monitoring")
    maps = _monitoring(docs, "ConfigMap")
    files = {p.name: json.loads(p.read_text()) for p in (FILES / "dashboards").glob("*.json")}
    assert len(files) == 1 + len(PRODUCT_SERVICES)
    shipped = {}
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Cowork"}
        assert config_map["metadata"]["namespace"] == "monitoring"
        [(name, text)] = config_map["data"].items()
        shipped[name] = json.loads(text)
    assert shipped == files
    # Another sidecar label, no folder, the release's namespace.
    [first, *_] = _monitoring(_render("metrics.dashboards.enabled=true",
                                      "metrics.dashboards.label=dashboards",
                                      "str:metrics.dashboards.labelValue=cowork",
                                      "metrics.dashboards.folder="), "ConfigMap")
    assert first["metadata"]["labels"]["dashboards"] == "cowork"
    assert "annotations" not in first["metadata"] and "namespace" not in first["metadata"]


@pytest.mark.parametrize(("setting", "complaint"), [
    ("jwt.existingSecret=", "existingSecret"),
    ("services.booking.database.existingSecret=", "existingSecret"),
    ("services.bookings.enabled=true", "bookings"),          # a misspelt service
    ("services.booking.env.booking_cutoff=1", "booking_cutoff"),  # not a variable's name
    ("terminationGracePeriodSeconds=10", "terminationGracePeriodSeconds"),
    # a secret as a plain value would sit in the release history: only by Secret
    ("services.booking.env.BOOKING_DATABASE_URL=postgresql://u:p@db/x", "BOOKING_DATABASE_URL"),
    ("services.notifications.env.NOTIFICATIONS_SMTP_PASSWORD=hunter2", "NOTIFICATIONS_SMTP_PASSWORD"),
    ("services.notifications.secretEnv.NOTIFICATIONS_SMTP_PASSWORD.secret=smtp", "key"),
    ("topics.partitions=0", "partitions"),
    # a number would reach the service as 1.2096e+09 (Helm reads YAML numbers as floats)
    (r"topics.config.retention\.ms=1209600000", "retention.ms"),
    ("topics.replicationFactor=-1", "replicationFactor"),
    ("autoscaling.maxReplicas=0", "maxReplicas"),
    ("services.booking.autoscaling.maxreplicas=4", "maxreplicas"),
    ("networkPolicy.kafka.ports=null", "ports"),
    ("metrics.dashboards.enable=true", "enable"),            # a misspelt toggle
    ("metrics.prometheusRule.labels.release=null", "release"),
])
def test_values_that_cannot_work_are_refused_at_install(setting: str, complaint: str) -> None:
    done = _run("template", "town", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert complaint in done.stderr


# ---------------------------------------------------------------- Kubernetes' own schemas

# Custom resources whose schemas are not Kubernetes' (the prometheus-operator's CRD).
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The oldest Kubernetes the chart supports (autoscaling/v2 and policy/v1 are GA from 1.23; 1.30
# is the oldest release still maintained by the big managed offerings) and the newest known.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_every_rendered_object_passes_the_kubernetes_schemas(values: Path | None,
                                                             version: str) -> None:
    docs = _render(values=values)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "Job", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    if values is PRODUCTION:
        assert {"HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        # strict: a field the API does not know (a typo in a template) is an error too.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_production_release_is_seven_objects_a_service_and_the_monitoring() -> None:
    """Per service: Deployment, Service, migration Job, PodDisruptionBudget, NetworkPolicy,
    HorizontalPodAutoscaler, ServiceMonitor; then a dashboard per service, the overview and the
    alert rules. deploy/kube installs exactly these into a real API server."""
    docs = _render(values=PRODUCTION)
    services = len(PRODUCT_SERVICES)
    assert len(docs) == 7 * services + (services + 1) + 1
    for service in PRODUCT_SERVICES:
        assert sorted(d["kind"] for d in docs
                      if d["metadata"]["labels"]["app.kubernetes.io/component"] == service) == \
            sorted(["Deployment", "Service", "Job", "PodDisruptionBudget", "NetworkPolicy",
                    "HorizontalPodAutoscaler", "ServiceMonitor"])


def test_the_community_pages_are_reachable_through_the_ingress() -> None:
    """Citizens open community's pages at `/` of the town's host: its pods admit the ingress
    controller like every service's, and its mails' links start with the public address."""
    docs = _render(values=PRODUCTION)
    values = yaml.safe_load(PRODUCTION.read_text())
    [ingress] = _policy(docs, "community")["ingress"]
    assert all(peer in ingress["from"] for peer in values["networkPolicy"]["ingressFrom"])
    [deployment] = _of(docs, "Deployment", "community")
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COMMUNITY_PUBLIC_BASE_URL"].startswith("https://")
    assert env["COMMUNITY_HTTP_PORT"] == "8005"


def test_the_routing_example_of_deploy_md_sends_slash_to_community() -> None:
    """docs/deploy.md's Ingress (the chart has none) is a valid object whose backends are
    Services the chart renders, on their named port, and `/` reaches community's pages."""
    text = (ROOT / "docs" / "deploy.md").read_text().split("### Routing", 1)[1]
    ingress = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    kubernetes_validate.validate(ingress, KUBERNETES_VERSIONS[-1], strict=True)
    services = {d["metadata"]["name"]: d for d in _run_release("cowork") if d["kind"] == "Service"}
    [rule] = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    for backend in routes.values():
        assert backend["name"] in services
        assert backend["port"]["name"] in {p["name"] for p in
                                           services[backend["name"]]["spec"]["ports"]}
    assert routes["/"]["name"] == "cowork-community"
    assert routes["/v1/meetings"]["name"] == "cowork-community"


def _run_release(release: str) -> list[dict[str, Any]]:
    done = _run("template", release, str(CHART))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_a_wrong_object_is_caught_by_that_validation() -> None:
    """The check above can fail: a misspelt field and a wrong type both raise."""
    [deployment] = _of(_render(), "Deployment", "booking")
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[-1], strict=True)
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBERNETES_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------- autoscaling


def test_autoscaling_is_off_by_default_and_the_replicas_are_fixed() -> None:
    docs = _render()
    assert [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"] == []
    for service in PRODUCT_SERVICES:
        [deployment] = _of(docs, "Deployment", service)
        assert deployment["spec"]["replicas"] == 2


def test_autoscaling_defaults_apply_to_every_service_and_a_service_may_override_them() -> None:
    docs = _render("autoscaling.enabled=true", "autoscaling.maxReplicas=3",
                   "services.booking.autoscaling.maxReplicas=6",
                   "services.booking.autoscaling.targetCPUUtilizationPercentage=50")
    for service in PRODUCT_SERVICES:
        [hpa] = _of(docs, "HorizontalPodAutoscaler", service)
        [deployment] = _of(docs, "Deployment", service)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deployment["metadata"]["name"]}
        # The HPA owns the replica count: a fixed one would fight it at every upgrade.
        assert "replicas" not in deployment["spec"]
        [metric] = hpa["spec"]["metrics"]
        expected = (6, 50) if service == "booking" else (3, 70)
        assert (hpa["spec"]["maxReplicas"], metric["resource"]["target"]["averageUtilization"]) \
            == expected
        assert hpa["spec"]["minReplicas"] == 2
        # Scaling in rebalances the consumer group: slowly, one pod at a time.
        assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == \
            [{"type": "Pods", "value": 1, "periodSeconds": 120}]
        assert len(_of(docs, "PodDisruptionBudget", service)) == 1


def test_a_service_can_autoscale_alone() -> None:
    docs = _render("services.vouchers.autoscaling.enabled=true")
    assert [d["metadata"]["labels"]["app.kubernetes.io/component"] for d in docs
            if d["kind"] == "HorizontalPodAutoscaler"] == ["vouchers"]


# ---------------------------------------------------------------- network policies


def _policy(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    [policy] = _of(docs, "NetworkPolicy", service)
    [deployment] = _of(docs, "Deployment", service)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    return policy["spec"]


@pytest.mark.parametrize("service", sorted(PRODUCT_SERVICES))
def test_only_the_ingress_kafka_and_the_service_database_reach_a_pod(service: str) -> None:
    docs = _render(values=PRODUCTION)
    spec = _policy(docs, service)
    values = yaml.safe_load(PRODUCTION.read_text())
    np = values["networkPolicy"]

    [ingress] = spec["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == np["ingressFrom"] + np["metricsFrom"]  # metrics are on here

    kafka, database, dns, *extra = spec["egress"]
    assert kafka == {"ports": [{"port": 9092, "protocol": "TCP"}], "to": np["kafka"]["peers"]}
    own = values["services"][service]["database"]["peers"]
    assert database == {"ports": [{"port": 5432, "protocol": "TCP"}], "to": own}
    others = [values["services"][s]["database"]["peers"] for s in PRODUCT_SERVICES - {service}]
    assert all(peers != own for peers in others)  # not another service's database
    assert {p["port"] for p in dns["ports"]} == {53}
    assert extra == values["services"][service].get("networkPolicy", {}).get("extraEgress", [])
    assert (extra != []) == (service == "notifications")  # mail relay and webhooks only there
    # The migration Job's pods carry the same labels, so the same policy covers them.
    [job] = _of(docs, "Job", service)
    assert spec["podSelector"]["matchLabels"].items() <= \
        job["spec"]["template"]["metadata"]["labels"].items()


def test_prometheus_is_admitted_only_when_metrics_are_scraped() -> None:
    spec = _policy(_render(), "booking")
    [ingress] = spec["ingress"]
    assert all("monitoring" not in str(peer) for peer in ingress["from"])


def test_network_policies_can_be_left_to_the_cluster() -> None:
    assert [d for d in _render("networkPolicy.enabled=false") if d["kind"] == "NetworkPolicy"] == []


# ---------------------------------------------------------------- secrets, notes


def test_a_secret_setting_comes_from_its_secret() -> None:
    docs = _render("services.notifications.secretEnv.NOTIFICATIONS_SMTP_PASSWORD.secret=smtp",
                   "services.notifications.secretEnv.NOTIFICATIONS_SMTP_PASSWORD.key=password")
    [deployment] = _of(docs, "Deployment", "notifications")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NOTIFICATIONS_SMTP_PASSWORD"] == {
        "name": "NOTIFICATIONS_SMTP_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "smtp", "key": "password"}}}


def _notes(tmp_path: Path, *sets: str, values: Path | None = None) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips it, and install needs a
    cluster): rendered from a copy of the chart where it is a named template."""
    chart = tmp_path / "cowork"
    shutil.copytree(CHART, chart)
    notes = chart / "templates" / "NOTES.txt"
    (chart / "templates" / "_notes.tpl").write_text(
        '{{- define "test.notes" -}}\n' + notes.read_text() + "{{- end -}}\n")
    notes.unlink()
    (chart / "templates" / "notes.yaml").write_text(
        'kind: Notes\ntext: {{ include "test.notes" . | toJson }}\n')
    [doc] = [d for d in _render(*sets, values=values, chart=chart) if d["kind"] == "Notes"]
    return str(doc["text"])


def test_the_notes_name_each_service_and_every_secret_to_create(tmp_path: Path) -> None:
    text = _notes(tmp_path, values=PRODUCTION)
    for service in PRODUCT_SERVICES:
        assert f"http://town-cowork-{service}:" in text
        assert f"cowork-{service}-db (key url)" in text
    assert "cowork-jwt (key secret)" in text
    assert "cowork-smtp (key password): NOTIFICATIONS_SMTP_PASSWORD" in text
    assert ("cowork-notifications-webhooks (key keys): NOTIFICATIONS_WEBHOOK_SECRET_KEYS"
            in text)
    assert "6 partitions, replication factor 3" in text
    assert "WARNING" not in text
    assert "citizens' public pages at / " in text
    # production sets the public address; without it the notes ask for it
    assert "COMMUNITY_PUBLIC_BASE_URL" not in text
    assert "services.community.env.COMMUNITY_PUBLIC_BASE_URL" in _notes(tmp_path / "default")


def test_the_notes_warn_when_pods_would_outnumber_partitions(tmp_path: Path) -> None:
    text = _notes(tmp_path, "autoscaling.maxReplicas=8", values=PRODUCTION)
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    # booking, vouchers and notifications cap their own maxReplicas at or below 6 partitions.
    assert warnings == ["    WARNING: up to 8 pods but 6 partitions per topic: "
                        "pods beyond 6 consume nothing."]
