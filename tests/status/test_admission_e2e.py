"""Issue 22 parts 2-3 end to end on the built-in ``queues`` scenario: the real CLI over HTTP against the
sandbox's Kueue, Volcano and claims. Each waiting group gets its cause with its ``layer`` in status,
list, JSON and the watch; a healthy LWS pays no new request, an unhealthy one at most 3 plus the queue
look-up; a layer we may not read or a visibility API that is missing or hangs is one warning."""

from __future__ import annotations

import copy
import json
import time

import pytest

from cliutil import requests_made, run_cli
from conftest import scenario_sandbox

KUEUE = "workloads.kueue.x-k8s.io"


@pytest.fixture(scope="module")
def sb():
    with scenario_sandbox("queues") as s:
        yield s


@pytest.fixture
def kc(sb, tmp_path):
    return sb.write_kubeconfig(tmp_path / "kc.yaml")


def status(kc: str, name: str, ns: str, *extra: str):
    return run_cli(["status", name, "-n", ns, *extra], kubeconfig=kc)


def doc(kc: str, name: str, ns: str) -> dict:
    r = status(kc, name, ns, "-o", "json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_queued_group_waits_in_its_local_queue_with_its_position(kc):
    d = doc(kc, "queued", "queues")
    assert d["state"] == "Progressing"
    g2 = d["groups"][2]
    assert g2["state"] == "Pending"
    assert g2["reason"].startswith("waiting for Kueue admission in LocalQueue team-a (ClusterQueue gpu, position 1): "
                                   "insufficient unused quota for nvidia.com/gpu in flavor h100: 6 more needed "
                                   "(leader 2, worker 4) (for ")
    assert g2["stuck"] is False
    assert g2["cause"]["layer"] == "kueue" and g2["cause"]["object"].startswith("Workload/leaderworkerset-queued-2-")
    assert [c["layer"] for c in g2["causes"]] == ["kueue"]
    assert d["admission"]["read"] == ["kueue"]
    assert d["admission"]["queue"]["positions"][g2["cause"]["object"].split("/")[1]]["positionInClusterQueue"] == 0
    assert d["groups"][0]["cause"] is None and d["groups"][0]["causes"] == []


def test_deactivated_group_is_degraded_with_the_way_out(kc):
    r = status(kc, "never-ready", "queues", "--pods", "--exit-code")
    assert r.exit_code == 3, r.stderr
    assert "State:          Unavailable: 0/1 groups ready: group 0 Pending: deactivated by Kueue " \
           "(DeactivatedDueToRequeuingLimitExceeded): will not start again until reactivated (for " in r.stdout
    assert "group 0: Deactivated on Workload/leaderworkerset-never-ready-0-" in r.stdout
    assert "(kueue), since " in r.stdout
    assert "--type merge -p '{\"spec\":{\"active\":true}}'" in r.stdout


def test_volcano_gang_and_pending_claim(kc):
    gang = doc(kc, "gang", "gangs")["groups"][0]
    assert gang["cause"]["layer"] == "volcano" and gang["state"] == "Pending"
    assert gang["reason"].startswith("Volcano: 1/4 tasks in gang unschedulable: pod group is not ready, 4 Pending, "
                                     "4 minAvailable; Pending: 1 Unschedulable, 3 Schedulable (for ")
    claim = doc(kc, "stateful", "storage")
    assert claim["state"] == "Unavailable"
    assert claim["groups"][0]["cause"]["layer"] == "storage"
    assert claim["groups"][0]["reason"].startswith('claim data-stateful-0 Pending: no StorageClass "fast" (for ')
    assert claim["groups"][0]["cause"]["message"] == 'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found'


def test_tas_split_is_a_placement_finding_for_free(sb, kc):
    r, reqs = requests_made(sb, lambda: status(kc, "placed", "queues"))
    assert r.exit_code == 0
    assert "group 0: leader on example.com/rack=rack-c, workers on rack-d: Kueue placed each pod set on its own" \
        in r.stdout
    # a healthy LWS pays nothing new: the LWS, its pods, the nodes they run on (and, its leaders being
    # young, the events the verdict's rule reads for a possible re-creation loop); no layer
    paths = [p for _, p, _ in reqs]
    assert paths[:3] == ["/apis/leaderworkerset.x-k8s.io/v1/namespaces/queues/leaderworkersets/placed",
                         "/api/v1/namespaces/queues/pods", "/api/v1/nodes"]
    assert paths[3:] in ([], ["/api/v1/namespaces/queues/events"])


def test_unhealthy_pays_at_most_three_more_plus_the_queue(sb, kc):
    r, reqs = requests_made(sb, lambda: status(kc, "queued", "queues"))
    assert r.exit_code == 0
    paths = [p for _, p, _ in reqs]
    base = ["/apis/leaderworkerset.x-k8s.io/v1/namespaces/queues/leaderworkersets/queued",
            "/api/v1/namespaces/queues/pods", "/api/v1/nodes", "/api/v1/namespaces/queues/events"]
    assert paths[:4] == base
    more = paths[4:]
    queue = [p for p in more if "/pendingworkloads" in p]
    assert len(more) - len(queue) <= 3, more
    assert more[:2] == ["/apis", "/apis/kueue.x-k8s.io/v1beta2/namespaces/queues/workloads"]
    assert queue == ["/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/queues/localqueues/team-a/pendingworkloads"]


def test_list_and_status_agree_on_every_waiting_lws(kc):
    r = run_cli(["list", "-A", "-o", "json"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    for item in json.loads(r.stdout)["items"]:
        d = doc(kc, item["name"], item["namespace"])
        assert (item["state"], item["reason"]) == (d["state"], d["reason"]), item["name"]


def test_watch_shows_the_same_cause(kc):
    r = run_cli(["status", "queued", "-n", "queues", "-w", "--timeout", "2s"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert "Pending: waiting for Kueue admission in LocalQueue team-a (ClusterQueue gpu, position 1)" in r.stdout


def test_forbidden_layer_is_one_warning_never_a_failure(sb, kc, write_kubeconfig):
    rules = [{"verbs": ["get", "list", "watch"], "apiGroups": ["", "leaderworkerset.x-k8s.io", "storage.k8s.io"],
              "resources": ["*"]}]
    sb.add_token("no-kueue", "dev", rules)
    kc2 = write_kubeconfig(sb, token="no-kueue", namespace="queues")
    r = run_cli(["status", "queued", "-o", "json"], kubeconfig=kc2)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("cannot read Kueue workloads (forbidden): admission causes not shown") == 1
    d = json.loads(r.stdout)
    assert d["admission"]["unread"] == {"kueue": "forbidden"}
    assert d["groups"][2]["state"] == "Pending" and "scheduling gated" in d["groups"][2]["reason"]


def test_visibility_not_served_or_hanging(sb, kc):
    sb.call(lambda: sb.addons.discard("kueue-visibility"))
    try:
        d = doc(kc, "queued", "queues")
        assert d["admission"]["queue"]["unread"] == "visibility API not served"
        assert "(ClusterQueue gpu): insufficient" in d["groups"][2]["reason"]
    finally:
        sb.call(lambda: sb.addons.add("kueue-visibility"))
    sb.fault("delay-responses", path="/apis/visibility.kueue.x-k8s.io", seconds=30, count=1)
    started = time.monotonic()
    r = status(kc, "queued", "queues")
    assert time.monotonic() - started < 15
    assert r.exit_code == 0
    assert "cannot read the queue position in LocalQueue team-a (timed out): positions not shown" in r.stderr
    assert "waiting for Kueue admission in LocalQueue team-a (ClusterQueue gpu)" in r.stdout


def test_queue_lookup_pages_and_stops_at_its_bound(sb, tmp_path):
    """Thousands may wait: the visibility read pages (limit/offset) and stops at the bound."""
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.kubeconfig import ConnectionSettings

    sb.fault("pause-controller", controller="kueue-scheduler", on=True)
    try:
        def fill():
            for i in range(60):
                sb.store.create(KUEUE, {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
                                        "metadata": {"name": f"ahead-{i:03d}", "namespace": "queues"},
                                        "spec": {"active": True, "priority": 1, "queueName": "team-a", "podSets": []}})
        sb.call(fill)
        path = "/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/queues/localqueues/team-a/pendingworkloads"
        cluster = Cluster(ConnectionSettings(kubeconfig=sb.write_kubeconfig(tmp_path / "kc.yaml")))
        wanted = {w["metadata"]["name"] for w in sb.store.list(KUEUE, "queues") if "queued-2" in w["metadata"]["name"]}
        sb.request_log.clear()
        found, seen, complete = cluster.pending_workloads(path, wanted, page=10, bound=30)
        assert (found, seen, complete) == ({}, 30, False)
        assert [q for _, p, q, *_ in sb.request_log.entries if "pendingworkloads" in p][:3] == [
            "limit=10&offset=0", "limit=10&offset=10", "limit=10&offset=20"]
        found, seen, complete = cluster.pending_workloads(path, wanted, page=25, bound=1000)
        assert complete and set(found) == wanted and found[next(iter(wanted))]["positionInLocalQueue"] == 60
    finally:
        sb.call(lambda: [sb.store.delete(KUEUE, "queues", f"ahead-{i:03d}") for i in range(60)])
        sb.fault("pause-controller", controller="kueue-scheduler", on=False)
        sb.wait_settled(60)


def test_damaged_workload_still_answers(sb, kc):
    name = next(w["metadata"]["name"] for w in sb.store.list(KUEUE, "queues") if "queued-2" in w["metadata"]["name"])
    saved = copy.deepcopy(sb.store.get(KUEUE, "queues", name))
    sb.fault("pause-controller", controller="kueue-scheduler", on=True)
    sb.fault("pause-controller", controller="kueue-pods", on=True)
    try:
        def damage():
            w = copy.deepcopy(sb.store.get(KUEUE, "queues", name))
            w["status"] = {"conditions": [{"type": "QuotaReserved"}, "garbage", None], "admission": "nope"}
            w["spec"]["queueName"] = None
            sb.store.update(KUEUE, w, subresource="status")
            sb.store.update(KUEUE, w)
        sb.call(damage)
        r = status(kc, "queued", "queues", "-o", "json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["groups"][2]["cause"]["layer"] == "kueue"
        r = run_cli(["list", "-n", "queues"], kubeconfig=kc)
        assert r.exit_code == 0 and "Traceback" not in r.stderr
    finally:
        def restore():
            w = copy.deepcopy(sb.store.get(KUEUE, "queues", name))
            w["spec"], w["status"] = saved["spec"], saved["status"]
            sb.store.update(KUEUE, w)
            sb.store.update(KUEUE, w, subresource="status")
        sb.call(restore)
        sb.fault("pause-controller", controller="kueue-pods", on=False)
        sb.fault("pause-controller", controller="kueue-scheduler", on=False)
        sb.wait_settled(60)


def test_unknown_lws_condition_is_shown(sb, kc):
    def add():
        lws = copy.deepcopy(sb.store.get("leaderworkersets.leaderworkerset.x-k8s.io", "queues", "placed"))
        lws["status"].setdefault("conditions", []).append(
            {"type": "ExampleQuotaWarning", "status": "True", "reason": "NearLimit", "message": "90% of GPUs used",
             "lastTransitionTime": "2026-12-05T08:00:00Z"})
        sb.store.update("leaderworkersets.leaderworkerset.x-k8s.io", lws, subresource="status")
    sb.fault("pause-controller", controller="lws", on=True)
    try:
        sb.call(add)
        r = status(kc, "placed", "queues")
        assert "Conditions:     ExampleQuotaWarning=True (NearLimit): 90% of GPUs used" in r.stdout
        d = doc(kc, "placed", "queues")
        assert {"type": "ExampleQuotaWarning", "status": "True", "reason": "NearLimit", "message": "90% of GPUs used",
                "lastTransitionTime": "2026-12-05T08:00:00Z", "known": False} in d["conditions"]
    finally:
        sb.fault("pause-controller", controller="lws", on=False)


def test_kueue_refusal_names_kueue(sb, tmp_path):
    """Kueue's LWS webhook shares the name vleaderworkerset.kb.io (golden G.5): say which one refused."""
    from kubectl_lws import errors
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.kubeconfig import ConnectionSettings

    cluster = Cluster(ConnectionSettings(kubeconfig=sb.write_kubeconfig(tmp_path / "kc2.yaml")))
    with pytest.raises(errors.Forbidden) as exc:
        cluster.patch_lws("queued", {"spec": {"leaderWorkerTemplate": {"size": 3}}}, namespace="queues")
    assert exc.value.message == ('admission webhook "vleaderworkerset.kb.io" denied the request: '
                                 "spec.leaderWorkerTemplate.size: Invalid value: 3: field is immutable")
    assert exc.value.hint.startswith("refused by Kueue's LWS webhook (it shares the name vleaderworkerset.kb.io")
    from kubectl_lws.model.admission import webhook_refusal_hint

    assert webhook_refusal_hint('admission webhook "vleaderworkerset.kb.io" denied the request: '
                                "spec.replicas: Invalid value: -1") is None
