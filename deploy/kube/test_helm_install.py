"""The chart installed into a real Kubernetes API server: kube-apiserver built from the Go
module proxy (deploy/kube/build-kube-apiserver.sh) over Debian's etcd, and `helm install` with
the production-like values. The server itself admits every object — its own validation,
defaulting and admission, with the prometheus-operator's custom resource definitions
(ServiceMonitor, PrometheusRule) installed first; the Grafana dashboards are ConfigMaps.

There is no kubelet, scheduler or controller-manager: pods never run, so the migration hook
Jobs could never complete and `helm install` would wait on them; the release is installed with
--no-hooks and the hook Jobs are then created through the API on their own, so the server
admits them too. Run by `make kube-test` (it builds kube-apiserver once, ~long on 2 cores)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cowork.devtools import free_port

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "cowork"
PRODUCTION = CHART / "ci" / "production-values.yaml"
KUBE_APISERVER = ROOT / ".devstack" / "bin" / "kube-apiserver"
TOKEN = "cowork-kube-test-token"
NAMESPACE = "cowork"


def _crd(kind: str, plural: str) -> dict[str, object]:
    """A prometheus-operator custom resource definition, schema left open: the server then
    admits the chart's objects of that kind as the operator's own CRD would take them."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                           "listKind": f"{kind}List"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]},
    }


# The prometheus-operator's kinds the chart renders (the scrape, the alert rules).
CRDS = [_crd("ServiceMonitor", "servicemonitors"), _crd("PrometheusRule", "prometheusrules")]


def _helm() -> str:
    return shutil.which("helm") or str(ROOT / ".devstack" / "bin" / "helm")


def _wait(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, verify=False, timeout=2,  # noqa: S501 - its own self-signed cert
                         headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def api_server() -> Iterator[tuple[str, Path]]:
    assert KUBE_APISERVER.exists(), "run deploy/kube/build-kube-apiserver.sh (make kube-test does)"
    work = Path(tempfile.mkdtemp(prefix="cowork-kube-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd_log = work / "etcd.log"
        procs.append(subprocess.Popen(
            ["etcd", "--data-dir", str(work / "etcd"), "--name", "cowork-test",
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
             "--initial-cluster", f"cowork-test=http://127.0.0.1:{etcd_peer}"],
            stdout=etcd_log.open("wb"), stderr=subprocess.STDOUT))
        _wait(f"http://127.0.0.1:{etcd_port}/health", 30, procs[-1], etcd_log)

        key = work / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                       capture_output=True)
        (work / "tokens.csv").write_text(f'{TOKEN},cowork-admin,1,"system:masters"\n')
        api_log = work / "kube-apiserver.log"
        procs.append(subprocess.Popen(
            [str(KUBE_APISERVER), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
             "--bind-address=127.0.0.1", f"--secure-port={api_port}",
             f"--cert-dir={work / 'certs'}", f"--token-auth-file={work / 'tokens.csv'}",
             "--authorization-mode=RBAC", f"--service-account-key-file={key}",
             f"--service-account-signing-key-file={key}",
             "--service-account-issuer=https://kubernetes.default.svc",
             "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=false",
             "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,"
             "DefaultStorageClass,ResourceQuota,PodSecurity,ValidatingAdmissionPolicy"],
            stdout=api_log.open("wb"), stderr=subprocess.STDOUT))
        server = f"https://127.0.0.1:{api_port}"
        _wait(f"{server}/readyz", 120, procs[-1], api_log)
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": server,
                                                      "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}]}))
        kubeconfig.chmod(0o600)
        yield server, kubeconfig
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def _client(server: str) -> httpx.Client:
    return httpx.Client(base_url=server, verify=False,  # noqa: S501 - its own self-signed cert
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def test_the_api_server_admits_every_object_of_the_chart(api_server: tuple[str, Path]) -> None:
    server, kubeconfig = api_server
    with _client(server) as api:
        assert api.post("/api/v1/namespaces", json={
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted"}}}).status_code == 201
        for crd in CRDS:
            created = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                               json=crd)
            assert created.status_code == 201, created.text
        time.sleep(2)  # the new resources are served once the CRDs are established

    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    install = subprocess.run(
        [_helm(), "install", "town", str(CHART), "-n", NAMESPACE, "-f", str(PRODUCTION),
         "--no-hooks", "--timeout", "60s"],
        env=env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "STATUS: deployed" in install.stdout
    # The namespace enforces the "restricted" Pod Security level: the server warns about any
    # workload whose pods it would refuse.
    assert "PodSecurity" not in install.stderr, install.stderr
    assert "cowork-smtp (key password)" in install.stdout  # NOTES.txt, rendered by Helm

    rendered = [d for d in yaml.safe_load_all(subprocess.run(
        [_helm(), "template", "town", str(CHART), "-n", NAMESPACE, "-f", str(PRODUCTION)],
        capture_output=True, text=True, check=True).stdout) if d]
    hooks = [d for d in rendered if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    assert {d["kind"] for d in hooks} == {"Job"}
    with _client(server) as api:
        for job in hooks:  # what --no-hooks left out, admitted on its own
            response = api.post(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", json=job)
            assert response.status_code == 201, response.text
        paths = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                 "Service": "/api/v1/namespaces/{ns}/services/{name}",
                 "Job": "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
                 "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}",
                 "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
                 "HorizontalPodAutoscaler":
                     "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}",
                 "ServiceMonitor":
                     "/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors/{name}",
                 "PrometheusRule":
                     "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules/{name}",
                 "ConfigMap": "/api/v1/namespaces/{ns}/configmaps/{name}"}
        for doc in rendered:
            path = paths[doc["kind"]].format(ns=NAMESPACE, name=doc["metadata"]["name"])
            stored = api.get(path)
            assert stored.status_code == 200, f"{doc['kind']} {doc['metadata']['name']}: {stored.text}"
            if doc["kind"] == "Deployment":  # stored as the chart meant it, server defaults added
                spec = stored.json()["spec"]
                assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
                assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
                assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"  # a default
            if doc["kind"] == "ConfigMap":  # a dashboard, labelled for Grafana's sidecar
                assert stored.json()["metadata"]["labels"]["grafana_dashboard"] == "1"
                assert stored.json()["data"] == doc["data"]
            if doc["kind"] == "PrometheusRule":
                assert stored.json()["spec"] == doc["spec"]
        # Seven kinds for each service of the values, then the monitoring: the alert rules and
        # the dashboards (an overview and one per service).
        services = len(yaml.safe_load(PRODUCTION.read_text())["services"])
        monitoring = [d["kind"] for d in rendered
                      if d["metadata"]["labels"]["app.kubernetes.io/component"] == "monitoring"]
        assert sorted(monitoring) == ["ConfigMap"] * (services + 1) + ["PrometheusRule"]
        assert len(rendered) == 7 * services + len(monitoring)
        assert len(monitoring) == services + 2

        # The server does judge: the same Deployment with a negative replica count is refused.
        [deployment] = [d for d in rendered if d["kind"] == "Deployment"][:1]
        broken = {**deployment, "metadata": {**deployment["metadata"], "name": "broken"},
                  "spec": {**deployment["spec"], "replicas": -1}}
        refused = api.post(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", json=broken)
        assert refused.status_code == 422, refused.text
        assert "spec.replicas" in refused.text
