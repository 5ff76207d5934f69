"""The golden controller traces (README section A) replayed on the sandbox through the real kubernetes client
and the sandbox API server: partitioned rollout (a), group re-creation (b1/b2/b3), scale (c), maxSurge
rollout (d), exclusive-topology unschedulable (e) and D3. The tests run in file order on one sandbox."""
from __future__ import annotations

import copy
import json
import threading

import pytest

from golden import GOLDEN
from kubernetes import client, config

from kubectl_lws.sandbox import webhooks as wh
from kubectl_lws.sandbox.sandbox import Sandbox

G, V, PL = "leaderworkerset.x-k8s.io", "v1", "leaderworkersets"
NS = "golden"


class Recorder:
    """Every store change, in order, as compact tuples (recorded on the loop thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple] = []

    def __call__(self, type_, resource, obj, old):
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        if resource == "pods":
            rec = ("pod", type_, meta["name"], meta.get("uid"), labels.get(wh.REVISION),
                   bool(meta.get("deletionTimestamp")))
        elif resource == "statefulsets.apps":
            part = ((obj["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
            rec = ("sts", type_, meta["name"], obj["spec"].get("replicas"), part, labels.get(wh.REVISION))
        elif resource == "events":
            rec = ("event", obj["involvedObject"].get("name"), obj["reason"], obj["message"])
        elif resource == "controllerrevisions.apps":
            rec = ("cr", type_, meta["name"])
        elif resource == wh.LWS_RESOURCE:
            st = obj.get("status") or {}
            conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
            rec = ("lws", meta["name"], conds, st.get("readyReplicas"), st.get("updatedReplicas"))
        else:
            return
        with self.lock:
            self.items.append(rec)

    def mark(self) -> int:
        with self.lock:
            return len(self.items)

    def since(self, mark: int, kind: str | None = None) -> list[tuple]:
        with self.lock:
            return [r for r in self.items[mark:] if kind is None or r[0] == kind]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sb = Sandbox(speed=50).start()
    try:
        sb.load_scenario("golden")
        sb.wait_settled(60)
        rec = Recorder()
        sb.call(sb.store.subscribe, rec)
        path = sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config")
        api = config.new_client_from_config(config_file=path)
        yield sb, rec, client.CustomObjectsApi(api), client.CoreV1Api(api)
        api.close()
    finally:
        sb.stop()


def _pods(sb, lws):
    return {p["metadata"]["name"]: p for p in
            sb.call(lambda: copy.deepcopy(sb.store.list("pods", NS, label_selector=f"{wh.NAME}={lws}")))}


def _lws(sb, name):
    return sb.get(wh.LWS_RESOURCE, NS, name)


def _conds(lws):
    return {c["type"]: c["status"] for c in lws["status"].get("conditions") or []}


def _lws_events(rec, mark, name):
    return [(r[2], r[3]) for r in rec.since(mark, "event") if r[1] == name]


def _first(items, pred):
    return next(i for i, r in enumerate(items) if pred(r))


def test_a_partition_only_change_moves_sts_partition_without_pod_changes(env):
    sb, rec, co, _ = env
    before = {n: p["metadata"]["uid"] for n, p in _pods(sb, "basic").items()}
    m = rec.mark()
    co.patch_namespaced_custom_object(G, V, NS, PL, "basic",
                                      {"spec": {"rolloutStrategy": {"rollingUpdateConfiguration": {"partition": 2}}}})
    sb.wait_settled(30)
    assert {n: p["metadata"]["uid"] for n, p in _pods(sb, "basic").items()} == before
    assert ("GroupsUpdating", "Updating replicas 2 to -1 (inclusive)") in _lws_events(rec, m, "basic")
    assert sb.get("statefulsets.apps", NS, "basic")["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 2


def test_a_canary_updates_only_top_group(env):
    sb, rec, co, _ = env
    before = {n: p["metadata"]["uid"] for n, p in _pods(sb, "basic").items()}
    m = rec.mark()
    lws = co.get_namespaced_custom_object(G, V, NS, PL, "basic")
    lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["image"] = \
        "nvcr.io/nvidia/pytorch:24.06-py3"
    co.replace_namespaced_custom_object(G, V, NS, PL, "basic", lws)
    sb.wait_settled(30)
    after = _pods(sb, "basic")
    for n, p in after.items():
        changed = p["metadata"]["uid"] != before[n]
        assert changed == n.startswith("basic-2"), n
    key = after["basic-2"]["metadata"]["labels"][wh.REVISION]
    assert after["basic-0"]["metadata"]["labels"][wh.REVISION] != key
    # the leader STS went to partition 3 (nothing updated) and then 2
    parts = [r[4] for r in rec.since(m, "sts") if r[2] == "basic"]
    assert parts.index(3) < len(parts) - 1 - parts[::-1].index(2)
    evs = _lws_events(rec, m, "basic")
    assert any(r == "CreatingRevision" and msg == f"Creating revision with key {key} for updated LWS"
               for r, msg in evs)
    assert ("GroupsUpdating", "Updating replica 2") in evs
    assert ("GroupsUpdating", "Rolling Upgrade is in progress, with 3 groups ready of total 3 groups") in evs
    # D7: Available drops as soon as the update starts, while every group is still ready; updated is omitted
    states = [(r[2], r[3], r[4]) for r in rec.since(m, "lws") if r[1] == "basic"]
    assert ({"Progressing": "False", "Available": "False", "UpdateInProgress": "True"}, 3, None) in states
    lws = _lws(sb, "basic")
    assert _conds(lws) == {"Progressing": "False", "Available": "True", "UpdateInProgress": "False"}
    assert (lws["status"]["readyReplicas"], lws["status"]["updatedReplicas"]) == (3, 1)
    crs = [c for c in sb.call(lambda: copy.deepcopy(sb.store.list("controllerrevisions.apps", NS)))
           if c["metadata"]["ownerReferences"][0]["kind"] == "LeaderWorkerSet"
           and c["metadata"]["labels"][wh.NAME] == "basic"]
    assert sorted(c["revision"] for c in crs) == [1, 2]
    # the whole group 2 was replaced: new worker STS at the new revision
    assert sb.get("statefulsets.apps", NS, "basic-2")["metadata"]["labels"][wh.REVISION] == key


def test_a_lowering_partition_rolls_remaining_groups_highest_first(env):
    sb, rec, co, _ = env
    m = rec.mark()
    co.patch_namespaced_custom_object(G, V, NS, PL, "basic",
                                      {"spec": {"rolloutStrategy": {"rollingUpdateConfiguration": {"partition": 0}}}})
    sb.wait_settled(30)
    pods = rec.since(m, "pod")
    first_1 = _first(pods, lambda r: r[2] == "basic-1" and r[5])
    first_0 = _first(pods, lambda r: r[2] == "basic-0" and r[5])
    new_1_added = _first(pods, lambda r: r[2] == "basic-1" and r[1] == "ADDED")
    assert first_1 < new_1_added < first_0, "group 1 is replaced before group 0 starts"
    lws = _lws(sb, "basic")
    assert lws["status"]["updatedReplicas"] == 3 and _conds(lws)["Available"] == "True"
    assert any(r[1] == "DELETED" and r[2].startswith("basic-") for r in rec.since(m, "cr"))
    crs = [c for c in sb.call(lambda: copy.deepcopy(sb.store.list("controllerrevisions.apps", NS)))
           if c["metadata"]["ownerReferences"][0]["kind"] == "LeaderWorkerSet"
           and c["metadata"]["labels"][wh.NAME] == "basic"]
    assert [c["revision"] for c in crs] == [2], "history is truncated once the rollout completes"


def _group_uids(sb, lws, i):
    return {n: p["metadata"]["uid"] for n, p in _pods(sb, lws).items()
            if p["metadata"]["labels"].get(wh.GROUP_INDEX) == str(i)}


def test_b1_delete_leader_default_propagation_recreates_group(env):
    sb, rec, _, core = env
    before = _group_uids(sb, "basic", 1)
    m = rec.mark()
    core.delete_namespaced_pod("basic-1", NS)
    sb.wait_settled(30)
    after = _group_uids(sb, "basic", 1)
    assert sorted(after) == sorted(before) and not set(after.values()) & set(before.values())
    assert not [e for e in _lws_events(rec, m, "basic") if e[0] == "RecreateGroup"]


def test_b2_delete_worker_recreates_whole_group_via_foreground_leader_delete(env):
    sb, rec, _, core = env
    before = _group_uids(sb, "basic", 2)
    m = rec.mark()
    core.delete_namespaced_pod("basic-2-2", NS)
    sb.wait_settled(30)
    after = _group_uids(sb, "basic", 2)
    assert sorted(after) == sorted(before) and not set(after.values()) & set(before.values())
    assert ("RecreateGroup", "Worker pod basic-2-2 failed, deleted leader pod basic-2 to recreate group 2") in \
        _lws_events(rec, m, "basic")


def test_b3_foreground_leader_delete_removes_workers_first(env):
    sb, rec, _, core = env
    before = _group_uids(sb, "basic", 0)
    m = rec.mark()
    core.delete_namespaced_pod("basic-0", NS, propagation_policy="Foreground")
    sb.wait_settled(30)
    pods = rec.since(m, "pod")
    old_leader_gone = _first(pods, lambda r: r[1] == "DELETED" and r[3] == before["basic-0"])
    for w in ("basic-0-1", "basic-0-2", "basic-0-3"):
        assert _first(pods, lambda r, w=w: r[1] == "DELETED" and r[3] == before[w]) < old_leader_gone
    leaders_added = [r for r in pods if r[1] == "ADDED" and r[2] == "basic-0"]
    assert len(leaders_added) == 1, "exactly one recreate"
    after = _group_uids(sb, "basic", 0)
    assert not set(after.values()) & set(before.values())


def test_c_scale_up_then_down_removes_highest_groups(env):
    sb, rec, co, _ = env
    co.patch_namespaced_custom_object_scale(G, V, NS, PL, "basic", {"spec": {"replicas": 5}})
    sb.wait_settled(30)
    assert {p["metadata"]["labels"][wh.GROUP_INDEX] for p in _pods(sb, "basic").values()} == set("01234")
    assert len(_pods(sb, "basic")) == 20 and _lws(sb, "basic")["status"]["readyReplicas"] == 5
    m = rec.mark()
    co.patch_namespaced_custom_object_scale(G, V, NS, PL, "basic", {"spec": {"replicas": 2}})
    sb.wait_settled(30)
    assert {p["metadata"]["labels"][wh.GROUP_INDEX] for p in _pods(sb, "basic").values()} == {"0", "1"}
    assert ("GroupsProgressing", "deleting surge replicas from basic-2 to basic-4") in _lws_events(rec, m, "basic")
    assert sb.get("statefulsets.apps", NS, "basic-3") is None


def test_d_max_surge_rollout_creates_surge_group_first_and_reclaims_it(env):
    sb, rec, co, _ = env
    co.patch_namespaced_custom_object_scale(G, V, NS, PL, "basic", {"spec": {"replicas": 3}})
    sb.wait_settled(30)
    m = rec.mark()
    lws = co.get_namespaced_custom_object(G, V, NS, PL, "basic")
    lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxSurge"] = 1
    for t in ("leaderTemplate", "workerTemplate"):
        lws["spec"]["leaderWorkerTemplate"][t]["spec"]["containers"][0]["image"] = "nvcr.io/nvidia/pytorch:24.07-py3"
    co.replace_namespaced_custom_object(G, V, NS, PL, "basic", lws)
    sb.wait_settled(30)
    pods = rec.since(m, "pod")
    surge_added = _first(pods, lambda r: r[1] == "ADDED" and r[2] == "basic-3")
    deletes = [r[2] for r in pods if r[5] and r[2] in ("basic-0", "basic-1", "basic-2")]
    order = list(dict.fromkeys(deletes))
    assert order == ["basic-2", "basic-1", "basic-0"]
    assert surge_added < _first(pods, lambda r: r[5] and r[2] == "basic-2")
    sts = [r for r in rec.since(m, "sts") if r[2] == "basic"]
    assert (4, 3) in [(r[3], r[4]) for r in sts], "surge: replicas 4, partition 3"
    assert ("GroupsProgressing", "deleting surge replica basic-3") in _lws_events(rec, m, "basic")
    assert sorted(_pods(sb, "basic")) == sorted(f"basic-{i}{s}" for i in range(3) for s in ("", "-1", "-2", "-3"))
    assert _lws(sb, "basic")["status"]["updatedReplicas"] == 3
    assert not [e for e in _lws_events(rec, m, "basic") if e[0] == "RecreateGroup"], "a rollout is no restart"
    during = [r for r in rec.since(m, "lws") if r[1] == "basic" and r[2].get("UpdateInProgress") == "True"]
    assert during and all(r[2]["Available"] == "False" for r in during)


def test_e_exclusive_topology_group_stays_pending(env):
    sb, rec, co, _ = env
    m = rec.mark()
    co.patch_namespaced_custom_object_scale(G, V, NS, PL, "excl", {"spec": {"replicas": 3}})
    sb.wait_settled(30)
    pod = sb.get("pods", NS, "excl-2")
    gold = json.load(open(f"{GOLDEN}/objects/excl-scaled-3-pending/events-excl-2.json"))["items"][0]
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (pod["status"]["phase"], cond["status"], cond["reason"]) == ("Pending", "False", "Unschedulable")
    assert cond["message"] == gold["message"]
    assert ("excl-2", "FailedScheduling", gold["message"]) in [r[1:] for r in rec.since(m, "event")]
    assert sb.get("statefulsets.apps", NS, "excl-2") is None, "no worker STS while the leader is unscheduled"
    assert _lws(sb, "excl")["status"]["readyReplicas"] == 2
    m = rec.mark()
    co.patch_namespaced_custom_object_scale(G, V, NS, PL, "excl", {"spec": {"replicas": 2}})
    sb.wait_settled(30)
    assert ("GroupsProgressing", "deleting surge replica excl-2") in _lws_events(rec, m, "excl")
    assert sb.get("pods", NS, "excl-2") is None


def test_d3_network_config_null_rolls_uniq_to_shared(env):
    sb, rec, co, _ = env
    co.patch_namespaced_custom_object(G, V, NS, PL, "uniq", {"spec": {"networkConfig": None}})
    sb.wait_settled(30)
    gold = json.load(open(f"{GOLDEN}/objects/uniq-after-networkConfig-null/services.json"))["items"]
    svcs = sb.call(lambda: sorted(s["metadata"]["name"] for s in sb.store.list("services", NS,
                                                                               label_selector=f"{wh.NAME}=uniq")))
    assert svcs == sorted(s["metadata"]["name"] for s in gold) == ["uniq"]
    for p in _pods(sb, "uniq").values():
        assert p["spec"]["subdomain"] == "uniq"
        env0 = {e["name"]: e["value"] for e in p["spec"]["containers"][0]["env"]}
        gi = p["metadata"]["labels"][wh.GROUP_INDEX]
        assert env0["LWS_LEADER_ADDRESS"] == f"uniq-{gi}.uniq.golden" and env0["LWS_GROUP_SIZE"] == "2"
