"""The placement map's facts (model/placemap.py) on the golden dumps and on small hand-made clusters."""

from __future__ import annotations

import copy
import json

from golden import GOLDEN

from maputil import lws, node, pod

from kubectl_lws.model import placemap as M
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.slim import slim


def items(rel: str) -> list[dict]:
    return json.loads((GOLDEN / rel).read_text())["items"]


def obj(rel: str) -> dict:
    return json.loads((GOLDEN / rel).read_text())


def test_quantities_and_requests_follow_the_scheduler() -> None:
    assert [M.quantity(v) for v in ("8", 4, "1k", "2Ki", "x", None)] == [8, 4, 1000, 2048, 0, 0]
    p = pod("a", 0, 0, "n1", 2)
    p["spec"]["containers"].append({"name": "side", "resources": {"requests": {"nvidia.com/gpu": "1"}}})
    p["spec"]["initContainers"] = [{"name": "init", "resources": {"limits": {"nvidia.com/gpu": "4"}}}]
    assert M.pod_request(p, "nvidia.com/gpu") == 4  # the largest init container beats the sum (3)
    assert M.pod_request(pod("a", 0, 0, "n1", 3, limit_only=True), "nvidia.com/gpu") == 3


def test_levels_come_from_the_flag_then_kueue_then_node_labels() -> None:
    nodes = items("objects/nodes.json")
    views = [lws_view(o) for o in items("objects/leaderworkersets-list.json")]
    assert M.detect_levels(nodes, views, explicit=["example.com/rack", "kubernetes.io/hostname"]) == (
        ["example.com/rack"], "flag")
    topo = items("kueue/objects/g3-tas/topologies.json")
    assert M.kueue_levels(topo) == ["example.com/rack"]  # hostname is the leaf, not a level
    assert M.detect_levels(nodes, views, kueue=M.kueue_levels(topo)) == (["example.com/rack"], "kueue")
    levels, source = M.detect_levels(nodes, views)
    # region has one value (groups nothing); zone, pool and the LWS's exclusive rack key remain
    assert source == "labels" and levels == ["topology.kubernetes.io/zone", "cloud.google.com/gke-nodepool",
                                             "example.com/rack"]


def test_golden_excl_scaled_to_3_shows_the_pending_group_with_its_cause() -> None:
    nodes = [slim("nodes", n) for n in items("objects/nodes.json")]
    the_lws = obj("objects/excl-scaled-3-pending/leaderworkerset.json")
    pods = [slim("pods", p) for p in items("objects/excl-scaled-3-pending/pods.json")]
    levels, source = M.detect_levels(nodes, [lws_view(the_lws)])
    m = M.build_map([the_lws], pods, nodes, levels=levels, levels_from=source)
    # zone, pool and rack split the nodes the same way: one box per zone, titled with all three
    assert [d.title for d in m.roots] == ["zone z1 / nodepool pool-a / rack rack-1",
                                          "zone z2 / nodepool pool-b / rack rack-2",
                                          "zone z3 / nodepool pool-c / rack rack-3",
                                          "zone (none) / nodepool (none) / rack (none)"]
    assert [n.name for n in m.roots[0].nodes] == ["gpu-a1", "gpu-a2"]
    labels = {g.index: g.label for g in m.groups}
    assert labels == {0: "A", 1: "B", 2: "C"}
    a1 = next(n for n in m.nodes if n.name == "gpu-a1")
    assert a1.pod_groups == {("golden", "excl", 0): 1} and a1.gpus == 8 and a1.gpu_groups == {}
    [unplaced] = m.unplaced
    assert (unplaced.index, unplaced.state) == (2, "Pending") and "unschedulable" in unplaced.reason
    doc = m.to_json()
    assert doc["kind"] == "LeaderWorkerSetMap" and doc["unplaced"][0]["cause"] == unplaced.reason
    assert json.loads(json.dumps(doc)) == doc


def test_gpus_per_group_and_other_pods_per_node() -> None:
    nodes = [node("n1", zone="z1"), node("n2", zone="z1"), node("n3", zone="z2"), node("n4", zone="z2")]
    pods = [pod("a", 0, 0, "n1", 4), pod("a", 0, 1, "n1", 4), pod("a", 1, 0, "n2", 2), pod("a", 1, 1, None, 2)]
    other = {"metadata": {"name": "job", "namespace": "x", "uid": "j"},
             "spec": {"nodeName": "n2",
                      "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "3"}}}]},
             "status": {"phase": "Running"}}
    done = copy.deepcopy(other)
    done["metadata"]["uid"] = "done"
    done["status"]["phase"] = "Succeeded"  # ended pods hold nothing
    m = M.build_map([lws("a", 2, 2)], [*pods, other, done], nodes, levels=["zone"], levels_from="flag")
    n1, n2 = m.nodes[0], m.nodes[1]
    assert n1.gpu_groups == {("ns", "a", 0): 8} and n1.gpus_used == 8
    assert n2.gpu_groups == {("ns", "a", 1): 2} and n2.gpu_other == 3 and n2.other_pods == 1
    assert M.node_slots(n2, m.labels_of) == [("B", ("ns", "a", 1))] * 2 + [(M.OTHER, None)] * 3 + [(M.FREE, None)] * 3
    assert m.totals() == {"nodes": 4, "gpus": 32, "lws": 10, "other": 3, "free": 19}
    assert [g.index for g in m.unplaced] == [1]  # its worker has no node
    assert [n.name for n in m.nodes if n.idle] == ["n3", "n4"]


def test_marks_notready_cordoned_tainted_and_violations() -> None:
    nodes = [node("n1", rack="r1"), node("n2", rack="r1"), node("n3", rack="r2"), node("n4", rack="r2")]
    nodes[1]["status"]["conditions"][0]["status"] = "False"
    nodes[2]["spec"] = {"unschedulable": True, "taints": [{"key": "node.kubernetes.io/unschedulable",
                                                          "effect": "NoSchedule"}]}
    nodes[3]["spec"] = {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                                   {"key": "x", "effect": "PreferNoSchedule"}]}
    the_lws = lws("e", 2, 2, **{"leaderworkerset.sigs.k8s.io/exclusive-topology": "rack"})
    pods = [pod("e", 0, 0, "n1"), pod("e", 0, 1, "n1"), pod("e", 1, 0, "n2"), pod("e", 1, 1, "n2")]
    m = M.build_map([the_lws], pods, nodes, levels=["rack"], levels_from="flag")
    marks = {n.name: n.marks for n in m.nodes}
    assert marks["n1"] == [M.VIOLATION]  # groups 0 and 1 share rack r1
    assert marks["n2"] == [M.NOT_READY, M.VIOLATION]
    assert marks["n3"] == [M.CORDONED]  # the cordon's own taint is not "tainted" again
    assert marks["n4"] == [M.TAINTED] and m.nodes[3].taints == ["nvidia.com/gpu=present:NoSchedule"]
    assert m.roots[0].violations and "share rack=r1" in m.roots[0].violations[0]
    assert not m.roots[1].violations


def test_a_pod_on_a_node_the_list_lacks_is_shown_gone_and_unknown_others_are_skipped() -> None:
    pods = [pod("a", 0, 0, "ghost")]
    stranger = {"metadata": {"name": "s", "namespace": "kube-system", "uid": "s"}, "spec": {"nodeName": "cp"},
                "status": {"phase": "Running"}}
    m = M.build_map([lws("a", 1, 1)], [*pods, stranger], [node("n1")])
    assert sorted(n.name for n in m.nodes) == ["ghost", "n1"]  # not "cp": nothing of ours runs there
    ghost = next(n for n in m.nodes if n.name == "ghost")
    assert ghost.marks == [M.NOT_READY, M.VIOLATION] and not ghost.known
    assert ghost.violations == ["ns/a: pod a-0 is on node ghost, which no longer exists"]
    no_nodes = M.build_map([lws("a", 1, 1)], pods, None)
    assert not no_nodes.nodes_known and no_nodes.nodes[0].marks == []  # unknown, not gone


def test_more_groups_than_letters_label_each_lws() -> None:
    many = [lws("big", 70, 1), lws("small", 2, 1)]
    pods = [pod("big", i, 0, "n1") for i in range(70)] + [pod("small", i, 0, "n1") for i in range(2)]
    m = M.build_map(many, pods, [node("n1")])
    assert m.by_lws and {g.label for g in m.groups if g.lws == "big"} == {"A"}
    assert {g.label for g in m.groups if g.lws == "small"} == {"B"}
    assert m.to_json()["labelsPer"] == "lws"
    few = M.build_map([lws("a", 3, 1)], [pod("a", i, 0, "n1") for i in range(3)], [node("n1")])
    assert [g.label for g in few.groups] == ["A", "B", "C"] and not few.by_lws
