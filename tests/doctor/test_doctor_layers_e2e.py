"""`doctor` (issue 22 part 4): the admission and gang layers it finds, and the LWS controller found
wherever it runs (behind the webhook service, outside the cluster) instead of a FAIL for a missing
``lws-system/lws-controller-manager``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cliutil import run_cli
from conftest import scenario_sandbox, start_sandbox


def doctor(kc: str, *args: str) -> tuple[int, dict]:
    r = run_cli(["doctor", "-o", "json", *args], kubeconfig=kc)
    assert r.exit_code in (0, 3), r.stderr
    return r.exit_code, json.loads(r.stdout)


def by_check(doc: dict) -> dict[str, dict]:
    return {c["check"]: c for c in doc["checks"]}


@pytest.fixture(scope="module")
def queues():
    with scenario_sandbox("queues") as sb:
        yield sb


def test_layers_installed_versions_managed_lws_and_access(queues, tmp_path):
    code, doc = doctor(queues.write_kubeconfig(tmp_path / "kc.yaml"), "-n", "queues")
    assert code == 0
    c = by_check(doc)
    assert c["kueue"]["status"] == "INFO"
    assert c["kueue"]["message"] == ("kueue.x-k8s.io served: v1beta2, v1beta1; visibility API v1beta2; controller "
                                     "kueue-system/kueue-controller-manager v0.19.2; manages 3 LWS in queues "
                                     "(never-ready, placed, queued)")
    assert c["kueue access"]["status"] == "PASS"
    assert c["volcano"]["message"].startswith("scheduling.volcano.sh served: v1beta1; controller "
                                              "volcano-system/volcano-scheduler v1.12.1; manages 0 LWS in queues")
    assert c["kai"]["message"] == "KAI-Scheduler absent: scheduling.run.ai is not served"
    assert doc["layers"]["kueue"]["managesHere"] == ["never-ready", "placed", "queued"]
    _, gangs = doctor(queues.write_kubeconfig(tmp_path / "kc2.yaml"), "-n", "gangs")
    assert "manages 1 LWS in gangs (gang)" in by_check(gangs)["volcano"]["message"]
    _, storage = doctor(queues.write_kubeconfig(tmp_path / "kc3.yaml"), "-n", "storage")
    assert by_check(storage)["storage access"]["status"] == "PASS"


def test_what_a_namespace_user_may_not_read_is_a_warning_with_the_role(queues, write_kubeconfig):
    rules = [{"verbs": ["*"], "apiGroups": ["", "apps", "leaderworkerset.x-k8s.io", "events.k8s.io",
                                             "authorization.k8s.io"], "resources": ["*"]}]
    queues.add_token("team-a-dev", "dev", rules)
    code, doc = doctor(write_kubeconfig(queues, token="team-a-dev", namespace="queues"))
    c = by_check(doc)
    assert c["kueue access"]["status"] == "WARN"
    assert c["kueue access"]["message"].startswith("you may not list workloads in queues, get "
                                                   "localqueues/pendingworkloads in queues")
    assert "admission causes of waiting groups are not shown" in c["kueue access"]["message"]
    assert "workloads (kueue.x-k8s.io)" in c["kueue access"]["fix"]


def test_lws_asking_for_kueue_without_kueue(tmp_path):
    sb = start_sandbox(speed=50)
    try:
        sb.load_scenario({"namespaces": ["q"], "objects": [{
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "x", "namespace": "q", "labels": {"kueue.x-k8s.io/queue-name": "team-a"}},
            "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {"containers": [
                {"name": "m", "image": "registry.k8s.io/pause:3.10"}]}}}}}]})
        sb.wait_settled(30)
        _, doc = doctor(sb.write_kubeconfig(tmp_path / "kc.yaml"), "-n", "q")
        c = by_check(doc)["kueue"]
        assert c["status"] == "WARN" and c["message"].startswith("x here ask for Kueue, but kueue.x-k8s.io is not served")
    finally:
        sb.stop()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _install_elsewhere(sb, *, url: str | None = None, holder: str | None = None) -> None:
    """An LWS controller installed by an operator: namespace lws-operator, deployment lws-manager."""
    ns = "lws-operator"

    def run():
        st = sb.store
        st.create("namespaces", {"metadata": {"name": ns}})
        if url is None:
            d = st.create("deployments.apps", {"metadata": {"name": "lws-manager", "namespace": ns},
                                               "spec": {"replicas": 1, "template": {"spec": {"containers": [
                                                   {"name": "manager", "image": "registry.k8s.io/lws/lws:v0.10.0"}]}}},
                                               "status": {"replicas": 1, "readyReplicas": 1}})
            rs = st.create("replicasets.apps", {"metadata": {"name": "lws-manager-5c9d7f8b4", "namespace": ns,
                                                             "ownerReferences": [{"apiVersion": "apps/v1",
                                                                                  "kind": "Deployment",
                                                                                  "name": "lws-manager",
                                                                                  "uid": d["metadata"]["uid"],
                                                                                  "controller": True}]}})
            st.create("pods", {"metadata": {"name": "lws-manager-5c9d7f8b4-q2w3e", "namespace": ns,
                                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                                 "name": "lws-manager-5c9d7f8b4",
                                                                 "uid": rs["metadata"]["uid"], "controller": True}]},
                               "spec": {"nodeName": "n0", "containers": [{"name": "manager", "image": "x"}]},
                               "status": {"phase": "Running"}})
            st.create("endpointslices.discovery.k8s.io", {
                "metadata": {"name": "lws-webhook-abcde", "namespace": ns,
                             "labels": {"kubernetes.io/service-name": "lws-webhook"}},
                "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": True},
                                                      "targetRef": {"kind": "Pod", "namespace": ns,
                                                                    "name": "lws-manager-5c9d7f8b4-q2w3e"}}]})
        client = {"url": url} if url else {"service": {"name": "lws-webhook", "namespace": ns, "path": "/m"}}
        for kind, name, hook in (("mutatingwebhookconfigurations", "lws-mutating-webhook-configuration",
                                  "mleaderworkerset.kb.io"),
                                 ("validatingwebhookconfigurations", "lws-validating-webhook-configuration",
                                  "vleaderworkerset.kb.io")):
            st.create(f"{kind}.admissionregistration.k8s.io", {"metadata": {"name": name}, "webhooks": [
                {"name": hook, "clientConfig": dict(client), "failurePolicy": "Fail"}]})
        st.create("leases.coordination.k8s.io", {"metadata": {"name": "b8b2488c.x-k8s.io",
                                                              "namespace": "lws-system" if url else ns},
                                                 "spec": {"holderIdentity": holder or
                                                          "lws-manager-5c9d7f8b4-q2w3e_0f7c1d2e",
                                                          "leaseDurationSeconds": 15, "renewTime": _now()}})
    sb.call(run)


def test_controller_under_another_name_is_found_behind_the_webhook_service(tmp_path):
    sb = start_sandbox(speed=50, plugins=("controllers",))
    try:
        _install_elsewhere(sb)
        code, doc = doctor(sb.write_kubeconfig(tmp_path / "kc.yaml"))
        c = by_check(doc)
        assert doc["controllerNamespace"] == "lws-operator"
        assert c["deployment"]["status"] == "PASS" and c["deployment"]["message"] == "lws-operator/lws-manager: 1/1 ready"
        assert c["located"]["status"] == "PASS"
        assert c["located"]["message"] == (
            "lws-operator/lws-manager: webhook service lws-operator/lws-webhook is served by pod "
            "lws-manager-5c9d7f8b4-q2w3e of deployment lws-operator/lws-manager; leader lease "
            "lws-operator/b8b2488c.x-k8s.io is held by pod lws-manager-5c9d7f8b4-q2w3e")
        assert c["leader lease"]["status"] == "PASS"
        assert doc["controller"]["deployment"] == "lws-manager"
    finally:
        sb.stop()


def test_controller_outside_the_cluster_is_not_reported_missing(tmp_path):
    sb = start_sandbox(speed=50, plugins=("controllers",))
    try:
        _install_elsewhere(sb, url="https://10.1.2.3:9443/mutate", holder="dev-laptop_7b1e2f3a")
        sb.load_scenario({"namespaces": ["app"], "objects": [{
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "x", "namespace": "app"},
            "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {"containers": [
                {"name": "m", "image": "registry.k8s.io/pause:3.10"}]}}}}}]})
        sb.wait_settled(30)
        code, doc = doctor(sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="app"))
        c = by_check(doc)
        assert not [x for x in doc["checks"] if x["status"] == "FAIL" and x["area"] == "Controller"], doc["checks"]
        assert c["deployment"]["status"] == "INFO"
        assert "but a controller runs outside the cluster: webhooks call https://10.1.2.3:9443/mutate" \
            in c["deployment"]["message"]
        assert "held by dev-laptop, which is no pod in lws-system" in c["deployment"]["message"]
        assert c["reconciling"]["status"] == "PASS"
        assert c["reconciling"]["message"].startswith("1/1 LWS in app observed at their generation")
        assert doc["controller"]["outsideCluster"] is True
    finally:
        sb.stop()
