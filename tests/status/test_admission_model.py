"""model/admission on the recordings of a real Kueue v0.19.2 admitting LWS (golden kueue/, README G):
Workload names, causes per group in both Workload API versions, TAS, deactivation, PVCs, gates, and
what a damaged object or a missing layer gives."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest

from golden import GOLDEN, read_http
from kubectl_lws.model import admission as A
from kubectl_lws.model import events as E
from kubectl_lws.model import health as H
from kubectl_lws.model.groups import lws_view

K = GOLDEN / "kueue" / "objects"
NOW = datetime(2026, 12, 5, 8, 40, tzinfo=timezone.utc)


def items(rel: str) -> list[dict]:
    return json.loads((K / rel).read_text())["items"]


def assessed(dump: str, name: str):
    lws = next(o for o in items(f"{dump}/leaderworkersets.json") if o["metadata"]["name"] == name)
    pods = [p for p in items(f"{dump}/pods.json")
            if p["metadata"].get("labels", {}).get("leaderworkerset.sigs.k8s.io/name") == name]
    view = lws_view(lws)
    return view, H.assess(view, pods, now=NOW)


def judged(a, causes):
    """The one verdict (model/verdict.judge) on ``a`` with the layers' causes."""
    from kubectl_lws.model.verdict import Facts, judge

    pods = [p for g in a.groups if g.group is not None for p in g.group.pods]
    return judge(Facts(a.view, pods, now=NOW, causes=causes), health=a)


def facts(dump: str, version: str = "v1beta2", **kw) -> A.Facts:
    wl = "workloads.json" if version == "v1beta2" else "workloads.v1beta1.json"
    return A.Facts(objects={A.KUEUE: items(f"{dump}/{wl}")}, **kw)


def test_workload_names_are_kueues():
    for dump in ("g2-q1-replicas-4", "g3-tas", "g4-never-ready-deactivated"):
        lws = {o["metadata"]["name"]: o["metadata"]["uid"] for o in items(f"{dump}/leaderworkersets.json")}
        for wl in items(f"{dump}/workloads.json"):
            owner = wl["metadata"]["annotations"]["kueue.x-k8s.io/job-owner-name"]
            index = int(wl["metadata"]["annotations"]["kueue.x-k8s.io/component-workload-index"])
            assert A.kueue_workload_name(owner, lws[owner], index) == wl["metadata"]["name"]
    long = A.kueue_workload_name("x" * 80, "uid", 3, short=True)
    assert len(long) == 63 and long.startswith("leaderworkerset-xxx")


def test_layers_from_the_lws_and_its_pods_without_a_read():
    view, a = assessed("g2-q1-replicas-4", "q1")
    pods = [p for g in a.groups for p in g.group.pods]
    assert A.layers_of(view, pods) == {A.KUEUE}
    # a healthy LWS plans nothing; group 2 and 3 are gated: one LIST of Workloads by job-uid
    served = A.Served.from_group_list({"groups": [{"name": "kueue.x-k8s.io", "versions": [
        {"version": "v1beta2"}, {"version": "v1beta1"}], "preferredVersion": {"version": "v1beta2"}}]})
    plan = A.plan(view, a.groups, served)
    assert [(r.layer, r.version, r.plural, r.label_selector) for r in plan.reads] == [
        ("kueue", "v1beta2", "workloads", f"kueue.x-k8s.io/job-uid={view.uid}")]
    assert plan.reads[0].path == "/apis/kueue.x-k8s.io/v1beta2/namespaces/golden-kueue/workloads"
    ready_only = [g for g in a.groups if g.group_ready]
    assert A.plan(view, ready_only, served).reads == []
    # v1beta1 only (an old Kueue): read there
    old = A.Served({"kueue.x-k8s.io": ("v1beta1",)})
    assert A.plan(view, a.groups, old).reads[0].version == "v1beta1"
    # not installed: no read, a cause instead
    none = A.plan(view, a.groups, A.Served({}))
    assert none.reads == [] and "kueue" in none.missing


@pytest.mark.parametrize("version", ["v1beta2", "v1beta1"])
def test_pending_and_not_yet_evaluated_groups(version):
    view, a = assessed("g2-q1-replicas-4", "q1")
    causes = A.group_causes(view, a.groups, facts("g2-q1-replicas-4", version))
    assert sorted(causes) == [2, 3]
    two, three = causes[2][0], causes[3][0]
    assert two.layer == three.layer == "kueue"
    assert two.summary == ("waiting for Kueue admission in LocalQueue team-a (ClusterQueue gpu): insufficient "
                           "unused quota for nvidia.com/gpu in flavor h100: 6 more needed (leader 2, worker 4)")
    assert not two.blocking
    assert two.message.startswith("couldn't assign flavors to pod set leader")
    # the 4th group had no QuotaReserved condition for 27 s (golden G.1): not "unknown"
    assert three.reason == "NotEvaluated"
    assert "not yet evaluated by Kueue" in three.summary
    judged(a, causes)
    # the verdict picks it over the pods' "scheduling gated"; a queue's wait is never Stuck
    assert a.group(2).state == H.PENDING and a.group(2).reason.startswith(two.summary + " (for ")
    assert not a.group(2).stuck and two.waits and two.layer == "kueue"
    assert a.state == H.PROGRESSING and "waiting for Kueue admission" in a.reason
    a.group(2).layer_causes = causes[2]
    doc = a.group(2).to_json()
    assert doc["cause"]["layer"] == "kueue" and [c["layer"] for c in doc["causes"]] == ["kueue"]


def test_queue_position_is_shown_one_based():
    view, a = assessed("g2-q1-replicas-4", "q1")
    f = facts("g2-q1-replicas-4")
    assert A.queue_lookups(f) == {"team-a": {"leaderworkerset-q1-2-649f4", "leaderworkerset-q1-3-665c3"}}
    f.queue["leaderworkerset-q1-2-649f4"] = A.QueueSpot("team-a", 0, 3)
    causes = A.group_causes(view, a.groups, f)
    assert "(ClusterQueue gpu, position 4)" in causes[2][0].summary
    f.queue.clear()
    f.queue_truncated["leaderworkerset-q1-2-649f4"] = 1000
    assert "position > 1000" in A.group_causes(view, a.groups, f)[2][0].summary


@pytest.mark.parametrize("version", ["v1beta2", "v1beta1"])
def test_evicted_after_pods_ready_timeout_then_requeued(version):
    view, a = assessed("g4-never-ready-evicted", "never-ready")
    causes = A.group_causes(view, a.groups, facts("g4-never-ready-evicted", version))
    c = causes[0][0]
    assert c.reason == "Evicted" and not c.blocking
    assert c.summary == "evicted by Kueue: PodsReadyTimeout, requeued at 08:36:33 (retry 1)"
    assert "Exceeded the PodsReady timeout golden-kueue/leaderworkerset-never-ready-0-2df44" in c.message


@pytest.mark.parametrize("version", ["v1beta2", "v1beta1"])
def test_deactivated_is_the_cause_that_matters(version):
    view, a = assessed("g4-never-ready-deactivated", "never-ready")
    causes = A.group_causes(view, a.groups, facts("g4-never-ready-deactivated", version))
    c = causes[0][0]
    assert c.reason == "Deactivated" and c.blocking and c.layer == "kueue"
    assert c.summary == ("deactivated by Kueue (DeactivatedDueToRequeuingLimitExceeded): will not start again "
                         "until reactivated")
    assert "exceeding the maximum number of re-queuing retries" in c.message
    assert "PodsReadyTimeout x1, Deactivated x1" in c.message
    assert ("kubectl -n golden-kueue patch workloads.kueue.x-k8s.io leaderworkerset-never-ready-0-2df44 "
            "--type merge -p '{\"spec\":{\"active\":true}}'") in c.message
    judged(a, causes)
    assert a.group(0).failing and a.group(0).cause is c
    assert a.state == H.UNAVAILABLE and "deactivated by Kueue" in a.reason


def test_a_deleted_admitted_workload_comes_back_pending_under_the_same_name():
    view, a = assessed("g2b-after-delete-workload-group-1", "q1")
    causes = A.group_causes(view, a.groups, facts("g2b-after-delete-workload-group-1"))
    assert 1 in causes and causes[1][0].layer == "kueue"
    assert causes[1][0].object == "Workload/leaderworkerset-q1-1-f47d6"


def test_tas_assignment_is_the_same_in_both_versions():
    new = {w["metadata"]["name"]: w for w in items("g3-tas/workloads.json")}
    old = {w["metadata"]["name"]: w for w in items("g3-tas/workloads.v1beta1.json")}
    seen = 0
    for name, wl in new.items():
        for a_psa, b_psa in zip(wl["status"].get("admission", {}).get("podSetAssignments", []),
                                old[name]["status"].get("admission", {}).get("podSetAssignments", [])):
            ta, tb = A.tas_assignment(a_psa), A.tas_assignment(b_psa)
            assert ta == tb
            seen += ta is not None
    assert seen == 8
    view, a = assessed("g3-tas", "tas1")
    tas = A.tas_by_group(view, a.groups, facts("g3-tas"))
    assert tas[0]["leader"].text() == "node-6 (kubernetes.io/hostname)"
    assert tas[0]["worker"].to_json() == {"levels": ["kubernetes.io/hostname"],
                                          "domains": [{"values": ["node-2"], "count": 1}]}


def test_compressed_v1beta2_slices():
    psa = {"topologyAssignment": {"levels": ["block", "rack"], "slices": [
        {"domainCount": 2, "valuesPerLevel": [{"universal": "block-1"},
                                              {"individual": {"prefix": "rack-", "roots": ["1", "2"]}}],
         "podCounts": {"individual": [4, 2]}}]}}
    ta = A.tas_assignment(psa)
    assert ta.to_json()["domains"] == [{"values": ["block-1", "rack-1"], "count": 4},
                                       {"values": ["block-1", "rack-2"], "count": 2}]


def _rack_nodes() -> dict:
    # the rig's racks as README G.3 names them (node-6 in rack-d, node-2 in rack-b, tas-grp on one node)
    racks = {"node-0": "rack-a", "node-2": "rack-b", "node-3": "rack-b", "node-6": "rack-d"}
    return {n: {"metadata": {"name": n, "labels": {"example.com/rack": r}}} for n, r in racks.items()}


def test_leader_and_workers_in_different_racks_is_a_placement_finding():
    view, a = assessed("g3-tas", "tas1")
    found = A.split_placement([g.group for g in a.groups], _rack_nodes())
    assert [(g, k) for g, k, _ in found] == [(0, "example.com/rack")]
    assert "leader on example.com/rack=rack-d, workers on rack-b" in found[0][2]
    view, b = assessed("g3-tas", "tas-grp")  # podset-group-name: one domain
    assert A.split_placement([g.group for g in b.groups], _rack_nodes()) == []
    assert A.split_placement([g.group for g in a.groups], None) == []


def test_tas_that_does_not_fit_keeps_every_pod_gated():
    view, a = assessed("g3-tas", "tas-big")
    c = A.group_causes(view, a.groups, facts("g3-tas"))[0][0]
    assert 'topology "rack-topo" allows to fit only 2 out of 3 pod(s)' in c.summary
    # no group of tas-big was ever admitted: its ClusterQueue is not known without one more read
    assert c.summary.startswith("waiting for Kueue admission in LocalQueue team-tas: topology")
    assert c.summary.endswith('Total nodes: 7; excluded: resource "nvidia.com/gpu": 5')


def test_quota_text():
    assert A.quota_text("couldn't assign flavors to pod set worker: insufficient unused quota for nvidia.com/gpu "
                        "in flavor h100, 8 more needed") == \
        "insufficient unused quota for nvidia.com/gpu in flavor h100, 8 more needed"
    two = ("couldn't assign flavors to pod set leader: a; couldn't assign flavors to pod set worker: b; "
           "couldn't assign flavors to pod set x: b")
    assert A.quota_text(two) == "pod set leader: a; pod set worker: b; pod set x: b"
    assert A.quota_text("") == ""


def test_served_from_the_visibility_discovery(golden_http):
    doc = json.loads(golden_http("kueue/http/visibility-discovery-apis.http").body)
    served = A.Served.from_group_list(doc)
    assert served.version(A.VISIBILITY_GROUP, A.VISIBILITY_VERSIONS) == "v1beta2"
    assert A.Served.from_group_list(None).groups == {}
    assert A.Served.from_group_list({"groups": [None, {"name": "x"}, {"versions": "bad"}]}).groups == {"x": ()}


# ---- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", [
    lambda w: w.pop("status"),
    lambda w: w.update(status={"conditions": "garbage"}),
    lambda w: w.update(status={"conditions": [None, 3, {"type": "QuotaReserved"}]}),
    lambda w: w.update(spec=None),
    lambda w: w["metadata"].pop("annotations"),
    lambda w: w.update(status={"admission": {"podSetAssignments": [{"topologyAssignment": {"slices": [
        {"domainCount": 3, "valuesPerLevel": [{"individual": {"roots": ["a"]}}], "podCounts": {}}]}}]}}),
])
def test_a_workload_with_missing_or_unexpected_fields_still_gives_an_answer(damage):
    view, a = assessed("g2-q1-replicas-4", "q1")
    wls = copy.deepcopy(items("g2-q1-replicas-4/workloads.json"))
    for w in wls:
        damage(w)
    causes = A.group_causes(view, a.groups, A.Facts(objects={A.KUEUE: wls + [None, "x"]}))
    judged(a, causes)
    A.tas_by_group(view, a.groups, A.Facts(objects={A.KUEUE: wls}))
    assert a.state in H.LWS_STATES


def test_pending_claim_from_events_and_a_missing_one():
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "x", "namespace": "ns", "uid": "u"},
           "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 3, "workerTemplate": {}, "volumeClaimTemplates": [
               {"metadata": {"name": "data"}, "spec": {"storageClassName": "fast"}}]}},
           "status": {}}
    view = lws_view(lws)

    def pod(g, w, node=None):
        name = f"x-{g}" if w == 0 else f"x-{g}-{w}"
        return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-12-05T08:00:00Z",
                             "labels": {"leaderworkerset.sigs.k8s.io/name": "x",
                                        "leaderworkerset.sigs.k8s.io/group-index": str(g),
                                        "leaderworkerset.sigs.k8s.io/worker-index": str(w)}},
                "spec": {"nodeName": node}, "status": {"phase": "Running" if node else "Pending",
                                                       "conditions": [{"type": "Ready", "status": "True"}] if node
                                                       else []}}
    pods = [pod(0, w, "n1") for w in range(3)] + [pod(1, 0, "n1"), pod(1, 1, "n1"), pod(1, 2)]
    a = H.assess(view, pods, now=NOW)
    plan = A.plan(view, a.groups, None)
    assert [(r.layer, r.plural, r.label_selector) for r in plan.reads] == [
        ("storage", "persistentvolumeclaims", "leaderworkerset.sigs.k8s.io/name=x")]
    assert not plan.needs_discovery  # PVCs are core/v1
    pvcs = [{"metadata": {"name": f"data-x-1-{w}" if w else "data-x-1"}, "spec": {"storageClassName": "fast"},
             "status": {"phase": "Bound" if w < 2 else "Pending"}} for w in range(3)]
    ev = E.normalize({"metadata": {"uid": "e1", "namespace": "ns", "name": "data-x-1-2.1"}, "type": "Warning",
                      "reason": "ProvisioningFailed", "involvedObject": {"kind": "PersistentVolumeClaim",
                                                                          "name": "data-x-1-2"},
                      "message": 'storageclass.storage.k8s.io "fast" not found',
                      "lastTimestamp": "2026-12-05T08:01:00Z"})
    f = A.Facts(objects={A.STORAGE: pvcs})
    assert A.classes_to_check(view, a.groups, f) == {"fast"}
    f.classes["fast"] = False  # GET storageclasses/fast said 404
    causes = A.group_causes(view, a.groups, f, [ev])
    c = causes[1][0]
    assert (c.layer, c.summary, c.blocking) == ("storage", 'claim data-x-1-2 Pending: no StorageClass "fast"', True)
    assert c.message == 'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found'
    # the class could not be read (forbidden) and no event: what the claim says, the same blocking verdict
    unknown = A.group_causes(view, a.groups, A.Facts(objects={A.STORAGE: pvcs}), [])[1][0]
    assert (unknown.summary, unknown.blocking) == ("claim data-x-1-2 Pending (storageClass fast)", True)
    judged(a, causes)
    assert a.state == H.DEGRADED and 'claim data-x-1-2 Pending' in a.reason
    # the claim does not exist at all
    causes = A.group_causes(view, a.groups, A.Facts(objects={A.STORAGE: pvcs[:2]}), [])
    assert causes[1][0].summary == "claim data-x-1-2 missing"


def test_unknown_gate_and_kueue_gates_without_kueue():
    view, a = assessed("g2-q1-replicas-4", "q1")
    g3 = a.group(3)
    for p in g3.group.pods:
        p["spec"]["schedulingGates"] = [{"name": "example.com/wait-for-nic"}]
    causes = A.group_causes(view, a.groups, A.Facts())
    assert causes[3][0].summary == "gated by example.com/wait-for-nic"
    assert causes[3][0].layer == "scheduling"
    plan = A.plan(view, a.groups, A.Served({}))
    causes = A.group_causes(view, a.groups, A.Facts(missing=plan.missing))
    assert causes[2][0].reason == "NotInstalled" and causes[2][0].blocking


def test_volcano_kai_and_native_podgroups():
    view, a = assessed("g2-q1-replicas-4", "q1")
    g = a.group(2)
    for p in g.group.pods:
        p["metadata"]["annotations"]["scheduling.k8s.io/group-name"] = "q1-2-abc"
        p["spec"]["schedulingGates"] = []
    pg = {"metadata": {"name": "q1-2-abc"}, "spec": {"minMember": 2, "queue": "default"},
          "status": {"phase": "Pending", "conditions": [{"type": "Unschedulable", "status": "True",
                                                          "reason": "NotEnoughResources",
                                                          "message": "2/2 tasks in gang unschedulable: pod group is "
                                                                     "not ready, 2 Pending, 2 minAvailable"}]}}
    c = A.group_causes(view, a.groups, A.Facts(objects={A.VOLCANO: [pg]}))[2][0]
    assert (c.layer, c.summary) == ("volcano", "Volcano: 2/2 tasks in gang unschedulable: pod group is not ready, "
                                               "2 Pending, 2 minAvailable")
    missing = A.group_causes(view, a.groups, A.Facts(objects={A.VOLCANO: []}))[2][0]
    assert missing.summary == "Volcano: PodGroup q1-2-abc not created yet"
    kai = {"metadata": {"name": "pg-q1-2"}, "status": {"schedulingConditions": [
        {"type": "UnschedulableOnNodePool", "nodePool": "default", "reasons": [
            {"reason": "OverLimit", "message": "queue team-a would exceed its GPU limit"}]}]}}
    for p in g.group.pods:
        p["metadata"]["annotations"].pop("scheduling.k8s.io/group-name")
        p["metadata"]["annotations"]["pod-group-name"] = "pg-q1-2"
    c = A.group_causes(view, a.groups, A.Facts(objects={A.KAI: [kai]}))[2][0]
    assert (c.layer, c.summary) == ("kai", "KAI: OverLimit: queue team-a would exceed its GPU limit "
                                           "(node pool default)")
    for p in g.group.pods:
        p["spec"]["schedulingGroup"] = {"podGroupName": "q1-2-native"}
    native = {"metadata": {"name": "q1-2-native"}, "spec": {"schedulingPolicy": {"gang": {"minCount": 2}}},
              "status": {"conditions": [{"type": "PodGroupInitiallyScheduled", "status": "False",
                                         "reason": "Unschedulable", "message": "0/7 nodes are available"}]}}
    c = A.group_causes(view, a.groups, A.Facts(objects={A.SCHEDULING: [native]}))[2][0]
    assert (c.layer, c.blocking) == ("scheduling", True)
    assert c.summary == "PodGroup q1-2-native (gang of 2) Unschedulable: 0/7 nodes are available"


def test_unknown_lws_conditions_are_shown():
    lws = {"metadata": {"name": "x"}, "spec": {}, "status": {"conditions": [
        {"type": "Available", "status": "True"},
        {"type": "ReplicaFailure", "status": "True", "reason": "Quota", "message": "exceeded"}]}}
    view = lws_view(lws)
    assert A.unknown_condition_lines(view) == ["ReplicaFailure=True (Quota): exceeded"]
    assert [c["known"] for c in A.lws_conditions(view)] == [True, False]


def test_the_visibility_answer_is_golden(golden_http):
    ex = read_http("kueue/http/visibility-v1beta2-localqueue-team-a-pendingworkloads.http")
    doc = json.loads(ex.body)
    assert [(i["metadata"]["name"], i["positionInClusterQueue"]) for i in doc["items"]] == [
        ("leaderworkerset-q1-2-649f4", 0), ("leaderworkerset-q1-3-665c3", 1)]


@pytest.mark.parametrize("garbage", [None, "x", {}, {"metadata": None}, {"metadata": {"name": "q1-2-abc"}, "status": "bad"},
                                     {"metadata": {"name": "q1-2-abc"}, "status": {"conditions": [None, "x", {}]}},
                                     {"metadata": {"name": "pg"}, "status": {"schedulingConditions": [{"reasons": "x"}]}}])
def test_podgroups_and_claims_with_unexpected_fields_still_answer(garbage):
    view, a = assessed("g2-q1-replicas-4", "q1")
    for p in a.group(2).group.pods:
        p["metadata"]["annotations"]["scheduling.k8s.io/group-name"] = "q1-2-abc"
        p["metadata"]["annotations"]["pod-group-name"] = "pg"
        p["spec"]["schedulingGroup"] = {"podGroupName": "q1-2-abc"}
    f = A.Facts(objects={A.VOLCANO: [garbage], A.KAI: [garbage], A.SCHEDULING: [garbage], A.STORAGE: [garbage]})
    causes = A.group_causes(view, a.groups, f)
    judged(a, causes)
    assert a.state in H.LWS_STATES
