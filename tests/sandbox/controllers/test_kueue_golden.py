"""The sandbox's Kueue against the recordings of a real Kueue v0.19.2 admitting LWS (golden kueue/,
README section G): the same inputs give the same Workloads, pods, queue status, events, visibility
answers, conversions, TAS, PodsReady eviction and deactivation, and webhook refusals. The recordings win.
"""
from __future__ import annotations

import copy
import json
import re
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import start_sandbox
from golden import GOLDEN

K = GOLDEN / "kueue"
WL = "workloads.kueue.x-k8s.io"
NS = "golden-kueue"
# the rig: 7 nodes in pool golden, two per rack (node-6 alone in rack-d), 8 GPUs each (README G.3)
NODES = [{"name": f"node-{i}", "labels": {"example.com/pool": "golden", "example.com/rack": f"rack-{'abcd'[i // 2]}"},
          "capacity": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8", "pods": "110"}} for i in range(7)]


def inputs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K / "inputs" / name).read_text()) if d]


def golden_items(rel: str) -> list[dict]:
    return json.loads((K / "objects" / rel).read_text())["items"]


def scenario(*files: str, kueue: dict | None = None) -> dict:
    docs = [d for f in files for d in inputs(f)]
    ns = next(d for d in inputs("g1-queues.yaml") if d["kind"] == "Namespace")
    out = {"addons": ["kueue", "kueue-visibility"], "nodes": NODES,
           "namespaces": [{"name": NS, "labels": ns["metadata"]["labels"]}],
           "objects": [d for d in docs if d["kind"] != "Namespace"]}
    if kueue:
        out["kueue"] = kueue
    return out


def get(sb, path: str) -> tuple[int, dict]:
    req = urllib.request.Request(sb.url + path, headers={"Authorization": f"Bearer {sb.admin_token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"text": body.decode()}


def conds(obj: dict) -> list[tuple]:
    return sorted((c["type"], c["status"], c["reason"], _norm(c["message"]))
                  for c in (obj.get("status") or {}).get("conditions") or [])


def _norm(text: str, *, index: bool = False) -> str:
    return re.sub(r"leaderworkerset-([a-z0-9-]+?)-(\d+)-[0-9a-f]{5}",
                  r"leaderworkerset-\1-N-H" if index else r"leaderworkerset-\1-\2-H", text)


def by_index(items: list[dict]) -> dict[int, dict]:
    return {int(w["metadata"]["annotations"]["kueue.x-k8s.io/component-workload-index"]): w for w in items}


def workloads(sb) -> dict[int, dict]:
    return by_index(sb.call(lambda: copy.deepcopy(sb.store.list(WL, NS))))


@pytest.fixture(scope="module")
def g2():
    sb = start_sandbox(speed=50)
    try:
        sb.load_scenario(scenario("g1-queues.yaml", "g2-lws-q1.yaml"))
        sb.wait_settled(60)
        yield sb
    finally:
        sb.stop()


def test_workloads_match_the_recording(g2):
    ours, gold = workloads(g2), by_index(golden_items("g2-q1-replicas-3/workloads.json"))
    lws = g2.get("leaderworkersets.leaderworkerset.x-k8s.io", NS, "q1")
    assert sorted(ours) == sorted(gold) == [0, 1, 2]
    for i, g in gold.items():
        o = ours[i]
        assert o["metadata"]["labels"] == {"kueue.x-k8s.io/job-uid": lws["metadata"]["uid"]}
        assert o["metadata"]["annotations"] == g["metadata"]["annotations"]
        assert o["spec"] == g["spec"], i
        assert conds(o) == conds(g), i
        assert [(r["kind"], r.get("controller")) for r in o["metadata"]["ownerReferences"]] == \
            [(r["kind"], r.get("controller")) for r in g["metadata"]["ownerReferences"]]
        assert o["status"].get("admission") == g["status"].get("admission")
        assert o["status"].get("resourceRequests") == g["status"].get("resourceRequests")


def test_pods_gated_then_admitted_as_recorded(g2):
    ours = {p["metadata"]["name"]: p for p in g2.call(lambda: copy.deepcopy(g2.store.list("pods", NS)))}
    for g in golden_items("g2-q1-replicas-3/pods.json"):
        o = ours[g["metadata"]["name"]]
        kueue = lambda d: {k: _norm(v) for k, v in (d or {}).items() if k.startswith("kueue.x-k8s.io/")}  # noqa: E731
        assert kueue(o["metadata"].get("labels")) == kueue(g["metadata"].get("labels")), g["metadata"]["name"]
        assert kueue(o["metadata"].get("annotations")) == kueue(g["metadata"].get("annotations"))
        assert o["spec"].get("schedulingGates") == g["spec"].get("schedulingGates")
        assert o["spec"].get("nodeSelector") == g["spec"].get("nodeSelector")
        sched = [(c["status"], c.get("reason"), c.get("message")) for c in o["status"]["conditions"]
                 if c["type"] == "PodScheduled"]
        want = [(c["status"], c.get("reason"), c.get("message")) for c in g["status"]["conditions"]
                if c["type"] == "PodScheduled"]
        assert sched == want


def test_queue_status_matches(g2):
    for kind, rel in (("clusterqueues.kueue.x-k8s.io", "clusterqueues.json"),
                      ("localqueues.kueue.x-k8s.io", "localqueues.json")):
        gold = golden_items(f"g2-q1-replicas-3/{rel}")[0]["status"]
        ours = g2.call(lambda kind=kind: copy.deepcopy(g2.store.list(kind)))[0]["status"]
        for key in ("admittedWorkloads", "reservingWorkloads", "pendingWorkloads", "flavorsReservation", "flavorsUsage"):
            assert ours[key] == gold[key], (kind, key)
        assert conds({"status": ours}) == conds({"status": gold})


def test_workload_events_are_worded_as_kueues(g2):
    ours = g2.call(lambda: copy.deepcopy(g2.store.list("events", NS)))
    gold = json.loads((K / "objects/g2-q1-replicas-3/events-core-v1.json").read_text())["items"]

    def shape(evs):
        return {(e["reason"], e["involvedObject"]["kind"], e.get("reportingComponent"), e["type"],
                 re.sub(r"\d+s$", "Ns", _norm(e["message"], index=True))) for e in evs
                if e["involvedObject"]["kind"] in ("Workload",) or e["reason"] in ("CreatedWorkload", "Started")}
    assert shape(ours) == shape(gold)


def test_visibility_answers_as_recorded(g2, golden_http):
    code, doc = get(g2, f"/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/{NS}/localqueues/team-a/pendingworkloads")
    gold = json.loads(golden_http("kueue/http/visibility-v1beta2-localqueue-team-a-pendingworkloads.http").body)
    assert code == 200
    assert doc["kind"] == gold["kind"] and doc["apiVersion"] == gold["apiVersion"]
    assert [sorted(i) for i in doc["items"]] == [sorted(i) for i in gold["items"][:1]]
    assert [(i["positionInClusterQueue"], i["positionInLocalQueue"], i["localQueueName"]) for i in doc["items"]] == \
        [(0, 0, "team-a")]
    code, doc = get(g2, "/apis/visibility.kueue.x-k8s.io/v1beta2/clusterqueues/gpu/pendingworkloads?limit=1&offset=1")
    assert code == 200 and doc["items"] == []
    code, doc = get(g2, "/apis/visibility.kueue.x-k8s.io/v1beta2/clusterqueues/missing/pendingworkloads")
    gold = json.loads(golden_http("kueue/http/visibility-v1beta2-clusterqueue-missing-pendingworkloads.http").body)
    assert (code, doc["message"], doc["reason"]) == (404, gold["message"], gold["reason"])
    code, doc = get(g2, "/apis")
    assert {"visibility.kueue.x-k8s.io", "kueue.x-k8s.io"} <= {g["name"] for g in doc["groups"]}


def test_webhook_refusals_are_worded_as_kueues(g2, golden_http):
    import urllib.request as u

    for rel, patch in (("kueue/http/update-lws-q1-size-2-to-3-merge.http", {"spec": {"leaderWorkerTemplate": {"size": 3}}}),
                       ("kueue/http/update-lws-q1-queue-name-to-team-tas-merge.http",
                        {"metadata": {"labels": {"kueue.x-k8s.io/queue-name": "team-tas"}}})):
        gold = golden_http(rel)
        req = u.Request(g2.url + f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{NS}/leaderworkersets/q1",
                        data=json.dumps(patch).encode(), method="PATCH",
                        headers={"Authorization": f"Bearer {g2.admin_token}",
                                 "Content-Type": "application/merge-patch+json"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            u.urlopen(req, timeout=10)
        assert exc.value.code == gold.status == 403
        assert json.loads(exc.value.read())["message"] == json.loads(gold.body)["message"]


def test_scale_delete_and_scale_down_follow_the_traces(g2):
    """g2: the 4th group's Workload is not evaluated until quota changes; g2b: a deleted admitted Workload
    stops its group and comes back under the same name, and the freed quota goes to the oldest pending
    group; g2c: scaling down removes Workloads at once and admits the pending group."""
    lws_res = "leaderworkersets.leaderworkerset.x-k8s.io"

    def patch_replicas(n):
        def run():
            o = copy.deepcopy(g2.store.get(lws_res, NS, "q1"))
            o["spec"]["replicas"] = n
            g2.store.update(lws_res, o)
        g2.call(run)
        g2.wait_settled(60)

    patch_replicas(4)
    w = workloads(g2)
    assert [c[0] for c in conds(w[3])] == ["PodsReady"]  # no QuotaReserved condition at all (golden G.1)
    one = w[1]["metadata"]["name"]
    g2.call(lambda: g2.store.delete(WL, NS, one))
    g2.wait_settled(60)
    w = workloads(g2)
    assert w[1]["metadata"]["name"] == one
    assert all(("Admitted", "True") in [c[:2] for c in conds(w[i])] for i in (0, 2))
    assert ("QuotaReserved", "False") in [(c[0], c[1]) for c in conds(w[1])]
    stopped = [e for e in g2.store.list("events", NS) if e["reason"] == "Stopped"]
    assert {e["involvedObject"]["name"] for e in stopped} == {"q1-1", "q1-1-1"}
    assert {e["message"] for e in stopped} == {"missing workload"}
    patch_replicas(2)
    w = workloads(g2)
    assert sorted(w) == [0, 1] and all(("Admitted", "True") in [(c[0], c[1]) for c in conds(x)] for x in w.values())


def test_v1beta1_is_served_and_converts_the_tas_assignment():
    sb = start_sandbox(speed=50, plugins=())
    try:
        sb.install_addons(["kueue"])
        gold_new = golden_items("g3-tas/workloads.json")
        gold_old = {w["metadata"]["name"]: w for w in golden_items("g3-tas/workloads.v1beta1.json")}
        sb.ensure_namespace(NS)
        sb.call(lambda: [sb.store.create(WL, copy.deepcopy(w)) for w in gold_new])
        code, doc = get(sb, f"/apis/kueue.x-k8s.io/v1beta1/namespaces/{NS}/workloads")
        assert code == 200 and doc["apiVersion"] == "kueue.x-k8s.io/v1beta1"
        for w in doc["items"]:
            g = gold_old[w["metadata"]["name"]]
            assert w["apiVersion"] == "kueue.x-k8s.io/v1beta1"
            assert w["status"].get("admission") == g["status"].get("admission")
        code, one = get(sb, f"/apis/kueue.x-k8s.io/v1beta2/namespaces/{NS}/workloads/{gold_new[-1]['metadata']['name']}")
        assert one["status"].get("admission") == gold_new[-1]["status"].get("admission")
        # without the add-on the group is not served at all
        sb.call(lambda: sb.addons.clear())
        assert get(sb, f"/apis/kueue.x-k8s.io/v1beta1/namespaces/{NS}/workloads")[0] == 404
    finally:
        sb.stop()


def test_tas_places_a_podset_group_in_one_rack_and_says_when_a_gang_cannot_fit():
    sb = start_sandbox(speed=50)
    try:
        sb.load_scenario(scenario("g1-queues.yaml", "g3-tas-queues.yaml", "g3-lws-tas-grp.yaml", "g3-lws-tas-big.yaml"))
        sb.wait_settled(60)
        pods = sb.call(lambda: copy.deepcopy(sb.store.list("pods", NS)))
        racks = {n["name"]: n["labels"]["example.com/rack"] for n in NODES}
        for g in (0, 1):
            members = [p for p in pods if p["metadata"]["name"].startswith(f"tas-grp-{g}")]
            assert len(members) == 3 and len({racks[p["spec"]["nodeName"]] for p in members}) == 1
            assert all(p["spec"]["nodeSelector"]["kubernetes.io/hostname"] == p["spec"]["nodeName"] for p in members)
        every = sb.call(lambda: copy.deepcopy(sb.store.list(WL, NS)))
        msg = next(c[3] for w in every if "tas-big" in w["metadata"]["name"] for c in conds(w) if c[0] == "QuotaReserved")
        assert msg.startswith('couldn\'t assign flavors to pod set worker: topology "rack-topo" allows to fit only 2 '
                              'out of 3 pod(s). Total nodes: 7')
        assert all(p["spec"].get("schedulingGates") for p in pods if p["metadata"]["name"].startswith("tas-big"))
        wl = next(w for w in every if "tas-grp-0" in w["metadata"]["name"])
        ta = wl["status"]["admission"]["podSetAssignments"][0]["topologyAssignment"]
        assert ta["levels"] == ["kubernetes.io/hostname"] and ta["slices"][0]["domainCount"] == 1
    finally:
        sb.stop()


def test_pods_ready_timeout_evicts_requeues_and_deactivates_as_recorded():
    cfg = yaml.safe_load((K / "inputs/kueue-config-podsready.yaml").read_text())
    sb = start_sandbox(speed=50)
    seen: list[dict] = []
    try:
        sb.call(lambda: sb.store.subscribe(lambda t, r, o, old: seen.append(copy.deepcopy(o)) if r == WL else None))
        sb.load_scenario(scenario("g1-queues.yaml", "g4-lws-never-ready.yaml",
                                  kueue={"waitForPodsReady": cfg["waitForPodsReady"]}))
        sb.wait_settled(60)
        evicted_gold = golden_items("g4-never-ready-evicted/workloads.json")[0]
        final_gold = golden_items("g4-never-ready-deactivated/workloads.json")[0]
        evicted = next(w for w in seen if ("Evicted", "True", "PodsReadyTimeout") in [c[:3] for c in conds(w)]
                       and ("QuotaReserved", "False") in [c[:2] for c in conds(w)])
        assert conds(evicted) == conds(evicted_gold)
        assert evicted["status"]["schedulingStats"] == evicted_gold["status"]["schedulingStats"]
        assert evicted["status"]["requeueState"]["count"] == 1
        assert "admission" not in evicted["status"]
        requeued = [w for w in seen if ("Requeued", "True", "BackoffFinished") in [c[:3] for c in conds(w)]]
        assert requeued, "requeued after the back-off"
        readmitted = next(w for w in seen if ("Evicted", "False", "QuotaReserved") in [c[:3] for c in conds(w)])
        assert ("Evicted", "False", "QuotaReserved",
                "Previously: Exceeded the PodsReady timeout golden-kueue/leaderworkerset-never-ready-0-H") in conds(readmitted)
        final = workloads(sb)[0]
        assert final["spec"]["active"] is False
        assert conds(final) == conds(final_gold)
        assert final["status"]["schedulingStats"] == final_gold["status"]["schedulingStats"]
        assert "requeueState" not in final["status"]
        reasons = {e["reason"] for e in sb.store.list("events", NS) if e["involvedObject"]["kind"] == "Workload"}
        assert {"EvictedDueToPodsReadyTimeout", "EvictedDueToDeactivatedDueToRequeuingLimitExceeded"} <= reasons
        pods = sb.call(lambda: copy.deepcopy(sb.store.list("pods", NS)))
        assert pods and all(p["spec"].get("schedulingGates") for p in pods)  # re-created gated, never to start
    finally:
        sb.stop()
