"""Placement per topology key and violations, on the golden dumps (excl took rack-1 and rack-2)."""

from __future__ import annotations

import copy

import pytest
from golden import golden_lws, golden_nodes

from kubectl_lws.model import keys
from kubectl_lws.model.groups import group_pods, lws_view
from kubectl_lws.model.topology import placement, short_key, topology_keys

RACK = "example.com/rack"


@pytest.fixture(scope="module")
def nodes() -> list[dict]:
    return golden_nodes()


def test_keys_include_exclusive_and_extra():
    lws, _ = golden_lws("excl")
    view = lws_view(lws)
    assert topology_keys(view, ["cloud.google.com/gke-nodepool", RACK]) == [
        keys.HOSTNAME_TOPOLOGY_KEY, keys.ZONE_TOPOLOGY_KEY, RACK, "cloud.google.com/gke-nodepool"]
    assert short_key(RACK) == "RACK" and short_key(keys.HOSTNAME_TOPOLOGY_KEY) == "NODE"


def test_excl_groups_own_one_rack_each(nodes):
    lws, pods = golden_lws("excl")
    view = lws_view(lws)
    p = placement(view, group_pods(pods, view.replicas), nodes)
    assert p.domains[0][RACK] == ["rack-1"] and p.domains[1][RACK] == ["rack-2"]
    assert p.domains[0][keys.ZONE_TOPOLOGY_KEY] == ["z1"]
    assert p.domains[1][keys.HOSTNAME_TOPOLOGY_KEY] == ["gpu-b1", "gpu-b2"]
    assert p.violations == []


def test_excl_pending_leader_is_a_violation(nodes):
    lws, pods = golden_lws("excl-scaled-3-pending")
    view = lws_view(lws)
    p = placement(view, group_pods(pods, view.replicas), nodes)
    assert [(v.group, v.key) for v in p.violations] == [(2, RACK)]
    assert "excl-2 cannot be placed: 0/7 nodes:" in p.violations[0].message
    assert p.domains[2][RACK] == []


def test_spread_and_shared_domains(nodes):
    lws, pods = golden_lws("excl")
    pods = copy.deepcopy(pods)
    # worker of group 0 lands in rack-2 (group 1's rack): spread + sharing
    next(x for x in pods if x["metadata"]["name"] == "excl-0-1")["spec"]["nodeName"] = "gpu-b2"
    view = lws_view(lws)
    msgs = [v.message for v in placement(view, group_pods(pods, view.replicas), nodes).violations]
    assert "group 0 spans 2 example.com/rack domains: rack-1, rack-2" in msgs
    assert "groups 0, 1 share example.com/rack=rack-2" in msgs


def test_node_without_label_and_not_ready(nodes):
    lws, pods = golden_lws("excl")
    pods = copy.deepcopy(pods)
    next(x for x in pods if x["metadata"]["name"] == "excl-1-1")["spec"]["nodeName"] = "kwok-node-0"
    nodes = copy.deepcopy(nodes)
    a1 = next(n for n in nodes if n["metadata"]["name"] == "gpu-a1")
    next(c for c in a1["status"]["conditions"] if c["type"] == "Ready")["status"] = "False"
    view = lws_view(lws)
    msgs = [v.message for v in placement(view, group_pods(pods, view.replicas), nodes).violations]
    assert "pod excl-1-1 is on node kwok-node-0, which has no example.com/rack label" in msgs
    assert "pod excl-0 is on NotReady node gpu-a1" in msgs


def test_subgroup_exclusive(nodes):
    lws, pods = golden_lws("subg")
    lws = copy.deepcopy(lws)
    lws["metadata"]["annotations"] = {keys.SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION: keys.ZONE_TOPOLOGY_KEY}
    view = lws_view(lws)
    pods = copy.deepcopy(pods)
    place = {"subg-0": "gpu-a1", "subg-0-1": "gpu-a2", "subg-0-2": "gpu-b1", "subg-0-3": "gpu-c1",
             "subg-1": "gpu-c2", "subg-1-1": "gpu-c2", "subg-1-2": "gpu-b2", "subg-1-3": "gpu-b2"}
    for x in pods:
        x["spec"]["nodeName"] = place[x["metadata"]["name"]]
    msgs = [v.message for v in placement(view, group_pods(pods, view.replicas), nodes).violations]
    assert "group 0 subgroup 1 spans 2 topology.kubernetes.io/zone domains: z2, z3" in msgs
    assert "subgroups 0/1, 1/0 (group/subgroup) share topology.kubernetes.io/zone=z3" in msgs
    assert "subgroups 0/1, 1/1 (group/subgroup) share topology.kubernetes.io/zone=z2" in msgs


def test_without_nodes_hostname_still_known():
    lws, pods = golden_lws("basic")
    view = lws_view(lws)
    p = placement(view, group_pods(pods, view.replicas), None)
    assert p.domains[0][keys.HOSTNAME_TOPOLOGY_KEY] == ["gpu-c1", "kwok-node-0"]
    assert p.domains[0][keys.ZONE_TOPOLOGY_KEY] == []
    assert not p.nodes_known
