"""`kubectl lws doctor` against the sandbox: healthy = all PASS, each fault its FAIL and fix, a pods-only token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliutil import run_cli
from conftest import start_sandbox


@pytest.fixture
def sb():
    sandbox = start_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _doctor(kc: str, *args: str) -> tuple[int, dict]:
    r = run_cli(["doctor", "-o", "json", *args], kubeconfig=kc)
    assert r.exit_code in (0, 3), r.stderr
    return r.exit_code, json.loads(r.stdout)


def _by_check(doc: dict) -> dict[str, dict]:
    return {c["check"]: c for c in doc["checks"]}


def test_healthy_sandbox_all_pass(sb, tmp_path: Path) -> None:
    kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
    code, doc = _doctor(kc)
    assert code == 0
    bad = [c for c in doc["checks"] if c["status"] in ("WARN", "FAIL")]
    assert bad == []
    checks = _by_check(doc)
    for name in ("server", "lws api", "lws crd", "deployment", "restarts", "leader lease", "mutating",
                 "mutating service", "mutating caBundle", "mutating failurePolicy", "validating caBundle",
                 "namespace", "nodes"):
        assert checks[name]["status"] == "PASS", name
    assert "v0.10.0" in checks["version"]["message"]
    assert doc["controllerNamespace"] == "lws-system"
    assert all(r["works"] == "yes" for r in doc["permissions"])
    text = run_cli(["doctor"], kubeconfig=kc)
    assert text.exit_code == 0 and "PASS: " in text.stdout and "FAIL " not in text.stdout


def test_tls_sandbox_webhook_ca_is_the_servers_ca(tmp_path: Path) -> None:
    from kubectl_lws.model.certs import parse_der, pem_blocks

    sandbox = start_sandbox(tls=True)
    try:
        kc = sandbox.write_kubeconfig(tmp_path / "kc.yaml")
        code, doc = _doctor(kc)
        assert code == 0
        served = parse_der(pem_blocks(Path(sandbox.ca_file).read_bytes())[0])
        assert served.not_after.strftime("%Y-%m-%d") in _by_check(doc)["mutating caBundle"]["message"]
    finally:
        sandbox.stop()


@pytest.mark.parametrize("fault,params,check,status,words,fix", [
    ("controller-down", {}, "deployment", "FAIL", "scaled to 0", "scale deployment/lws-controller-manager"),
    ("controller-down", {}, "mutating service", "FAIL", "no ready endpoints", "controller-manager"),
    ("webhook-cert-expired", {}, "mutating caBundle", "FAIL", "EXPIRED", "rollout restart"),
    ("webhook-cert-expired", {}, "validating caBundle", "FAIL", "EXPIRED", "lws-webhook-server-cert"),
    ("webhook-failure-policy", {"policy": "Ignore"}, "validating failurePolicy", "WARN", "Ignore",
     '"value":"Fail"'),
    ("stale-lease", {}, "leader lease", "FAIL", "last renewed 10m ago", "logs deployment/lws-controller-manager"),
])
def test_each_fault_gives_its_finding_and_fix(sb, tmp_path: Path, fault: str, params: dict, check: str,
                                              status: str, words: str, fix: str) -> None:
    kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
    sb.fault(fault, **params)
    code, doc = _doctor(kc)
    found = _by_check(doc)[check]
    assert found["status"] == status, found
    assert words in found["message"] and fix in found["fix"], found
    assert code == (3 if any(c["status"] == "FAIL" for c in doc["checks"]) else 0)
    if fault == "webhook-failure-policy":
        assert code == 0  # a WARN alone is not unhealthy


def test_pods_only_token_gives_the_permission_matrix(sb, tmp_path: Path) -> None:
    sb.add_token("pods-only", "pods-reader", [{"verbs": ["get", "list", "watch"], "resources": ["pods", "pods/log"],
                                               "apiGroups": [""], "namespaces": ["default"]}])
    kc = sb.write_kubeconfig(tmp_path / "kc.yaml", token="pods-only")
    code, doc = _doctor(kc)
    assert code == 3
    matrix = {r["command"]: r for r in doc["permissions"]}
    assert matrix["list"]["works"] == "no" and "list leaderworkersets" in matrix["list"]["missing"]
    assert matrix["restart"]["works"] == "no" and "delete pods" in matrix["restart"]["missing"]
    assert "get pods/log" not in matrix["logs"]["missing"]
    assert "list nodes" in matrix["status"]["degraded"]
    checks = _by_check(doc)
    assert checks["namespace"]["status"] == "FAIL" and "fix" in checks["namespace"]
    assert checks["nodes"]["status"] == "WARN" and "placement degraded" in checks["nodes"]["message"]
    # what it cannot read is a WARN that says so, not a crash or a false FAIL
    assert checks["deployment"]["status"] == "WARN" and "forbidden" in checks["deployment"]["message"]
    text = run_cli(["doctor"], kubeconfig=kc)
    assert text.exit_code == 3 and "Commands you can use here" in text.stdout


def test_unreachable_server_is_one_fail(tmp_path: Path) -> None:
    r = run_cli(["doctor", "-o", "json", "--server", "http://127.0.0.1:9", "--request-timeout", "2s"],
                kubeconfig=str(tmp_path / "none"))
    assert r.exit_code == 3, r.stderr
    doc = json.loads(r.stdout)
    assert [c["status"] for c in doc["checks"]] == ["FAIL"]


def test_controller_namespace_is_validated(sb, tmp_path: Path) -> None:
    kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
    r = run_cli(["doctor", "--controller-namespace", "Bad_NS"], kubeconfig=kc)
    assert r.exit_code == 2 and "not a valid namespace" in r.stderr


@pytest.mark.parametrize("fault,words", [("controller-down", 'no endpoints available for service "lws-webhook-service"'),
                                         ("webhook-cert-expired", "x509: certificate has expired")])
def test_lws_writes_fail_while_the_webhook_cannot_be_called(sb, tmp_path: Path, fault: str, words: str) -> None:
    from cliutil import sandbox_http
    import urllib.error

    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "w", "namespace": "default"},
           "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {
               "spec": {"containers": [{"name": "c", "image": "x"}]}}}}}
    path = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/default/leaderworkersets"
    sb.fault(fault)
    with pytest.raises(urllib.error.HTTPError) as err:
        sandbox_http(sb, "POST", path, lws)
    body = json.loads(err.value.read())
    assert err.value.code == 500 and words in body["message"] and "mleaderworkerset.kb.io" in body["message"]
    sb.fault("webhook-failure-policy", policy="Ignore")  # the failure is then ignored
    assert sandbox_http(sb, "POST", path, lws)["metadata"]["name"] == "w"


@pytest.mark.parametrize("status", [500, 503])
def test_a_read_that_failed_is_could_not_check_never_not_found(sb, tmp_path: Path, status: int) -> None:
    """Issue 25 class 6: 5xx on the CRD, the Deployment, its Lease, the webhooks or discovery is
    "could not check: <why>" (WARN, exit 0), never "not found" or "not installed"."""
    kc = sb.write_kubeconfig(tmp_path / "kc.yaml")
    paths = {
        "lws crd": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/leaderworkersets.leaderworkerset.x-k8s.io",
        "deployment": "/apis/apps/v1/namespaces/lws-system/deployments/lws-controller-manager",
        "leader lease": "/apis/coordination.k8s.io/v1/namespaces/lws-system/leases/",
        "mutating": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/",
        "validating": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/",
        "disaggregatedset": "/apis/disaggregatedset.x-k8s.io",
    }
    for path in paths.values():
        sb.fault("fail-requests", path=path, status=status, count=100, message=f"etcd is sick ({status})")
    try:
        code, doc = _doctor(kc)
        text = run_cli(["doctor"], kubeconfig=kc)
    finally:
        sb.apiserver.fail_rules.clear()
    checks = _by_check(doc)
    for name in paths:
        assert checks[name]["status"] == "WARN", checks[name]
        assert checks[name]["message"].startswith("could not check ") and f"etcd is sick ({status})" in \
            checks[name]["message"], checks[name]
    assert code == 0 and text.exit_code == 0, doc
    assert "not found" not in text.stdout and "not installed" not in text.stdout, text.stdout
