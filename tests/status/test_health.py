"""Group and LWS health on the golden object dumps (real controller output), plus mutations of
them for the states a healthy golden cluster never showed (crash loop, NotReady node, ...)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pytest
from golden import GOLDEN, golden_lws, golden_nodes

from kubectl_lws.model import health, keys
from kubectl_lws.model.groups import group_pods, lws_view

NOW = datetime(2026, 11, 22, 11, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def nodes() -> list[dict]:
    return golden_nodes()


def pod(pods: list[dict], name: str) -> dict:
    return next(p for p in pods if p["metadata"]["name"] == name)


def test_basic_is_healthy(nodes):
    lws, pods = golden_lws("basic")
    a = health.assess(lws_view(lws), pods, nodes=nodes, now=NOW)
    assert (a.state, a.ready, a.updated, a.current) == ("Healthy", 3, 3, 3)
    assert a.current_revision == "685db546f6"
    assert [g.state for g in a.groups] == ["Ready"] * 3
    assert [g.leader for g in a.groups] == ["basic-0", "basic-1", "basic-2"]
    assert all(g.ready == 4 and g.size == 4 and g.group_ready for g in a.groups)


def test_canary_partition2_marks_stable_and_canary():
    lws, pods = golden_lws("basic-canary-partition2")
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.current_revision == "86cb664869"
    assert a.state == "Canary"
    assert "1/3" in a.reason and "partition 2" in a.reason
    assert [g.revision_role for g in a.groups] == ["stable", "stable", "canary"]
    assert [g.updated for g in a.groups] == [False, False, True]
    # matches what the real controller published
    assert a.updated == lws["status"]["updatedReplicas"]


def test_current_revision_prefers_leader_statefulset():
    lws, pods = golden_lws("basic-canary-partition2")
    sts = json.loads((GOLDEN / "objects" / "basic-canary-partition2" / "statefulsets.json").read_text())["items"]
    leader_sts = next(s for s in sts if s["metadata"]["name"] == "basic")
    # pods alone would say 86cb664869 as well; give the STS a different label to prove it wins
    leader_sts = copy.deepcopy(leader_sts)
    leader_sts["metadata"]["labels"][keys.REVISION_LABEL] = "ffffffffff"
    assert health.current_revision(lws_view(lws), pods, leader_sts=leader_sts) == "ffffffffff"
    assert health.current_revision(lws_view(lws), pods) == "86cb664869"


def test_revision_unknown_right_after_template_change():
    """UpdateInProgress=True with no updatedReplicas: no group runs the new revision yet."""
    lws, pods = golden_lws("basic")
    lws = copy.deepcopy(lws)
    lws["status"]["conditions"].append({"type": "UpdateInProgress", "status": "True"})
    lws["status"].pop("updatedReplicas")
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.current_revision is None
    assert a.state == "Progressing"
    assert [g.state for g in a.groups] == ["Updating"] * 3


def test_excl_scaled_pending_leader_is_unschedulable(nodes):
    lws, pods = golden_lws("excl-scaled-3-pending")
    a = health.assess(lws_view(lws), pods, nodes=nodes, now=NOW)
    g2 = a.group(2)
    assert g2.state == "Pending"
    assert g2.reason.startswith("leader unschedulable (0/7 nodes:")
    assert not g2.group_ready and not g2.updated
    assert a.state == "Degraded"
    # the controller counts 2 ready and 2 updated: so do we
    assert (a.ready, a.updated) == (lws["status"]["readyReplicas"], lws["status"]["updatedReplicas"])


def test_subgroups_and_single(nodes):
    lws, pods = golden_lws("subg")
    a = health.assess(lws_view(lws), pods, nodes=nodes, now=NOW)
    assert a.state == "Healthy"
    assert [p.subgroup_index for p in a.groups[0].pods] == [0, 0, 1, 1]
    lws, pods = golden_lws("single")
    a = health.assess(lws_view(lws), pods, nodes=nodes, now=NOW)
    assert a.state == "Healthy" and all(g.size == 1 and g.updated for g in a.groups)


def test_pending_worker_is_not_ready_even_if_lws_status_says_ready():
    """Pre-v0.9 readyReplicas counted this group as ready; we do not."""
    lws, pods = golden_lws("basic")
    pods = copy.deepcopy(pods)
    w = pod(pods, "basic-1-3")
    w["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                   "reason": "Unschedulable", "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]}
    w["spec"].pop("nodeName")
    a = health.assess(lws_view(lws), pods, now=NOW)
    g = a.group(1)
    assert g.state == "Pending"
    assert g.reason == "w3 unschedulable (0/4 nodes: 4 Insufficient nvidia.com/gpu)"
    assert a.ready == 2 and lws["status"]["readyReplicas"] == 3
    assert a.state == "Degraded"


def test_crash_loop_is_degraded_with_restarts():
    lws, pods = golden_lws("basic")
    pods = copy.deepcopy(pods)
    w = pod(pods, "basic-2-2")
    cs = w["status"]["containerStatuses"][0]
    cs.update(ready=False, restartCount=7, state={"waiting": {"reason": "CrashLoopBackOff"}},
              lastState={"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": "2026-11-22T10:59:00Z"}})
    for c in w["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "False"
    a = health.assess(lws_view(lws), pods, now=NOW)
    g = a.group(2)
    assert g.label == "Degraded: w2 CrashLoopBackOff (7 restarts)"
    assert g.restarts == 7
    info = next(p for p in g.pods if p.name == "basic-2-2")
    assert info.reason == "Error" and not info.ready
    assert a.state == "Degraded" and "group 2" in a.reason


def test_running_but_not_ready_is_degraded_yet_only_loading():
    """A worker that runs and is not ready yet (a model loading): Degraded, failing for status, and
    ``only_not_ready_yet`` so a rollout waits for it; a restart or a crash loop is not that."""
    lws, pods = golden_lws("basic")
    pods = copy.deepcopy(pods)
    w = pod(pods, "basic-2-2")
    w["status"]["containerStatuses"][0]["ready"] = False
    for c in w["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "False"
    g = health.assess(lws_view(lws), pods, now=NOW).group(2)
    assert g.state == "Degraded" and g.failing and g.only_not_ready_yet
    w["status"]["containerStatuses"][0]["restartCount"] = 2
    g = health.assess(lws_view(lws), pods, now=NOW).group(2)
    assert g.failing and not g.only_not_ready_yet
    assert not health.assess(lws_view(lws), pods, now=NOW).group(0).only_not_ready_yet  # Ready


def test_node_not_ready(nodes):
    lws, pods = golden_lws("excl")
    nodes = copy.deepcopy(nodes)
    b2 = next(n for n in nodes if n["metadata"]["name"] == "gpu-b2")
    for c in b2["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "Unknown"
    a = health.assess(lws_view(lws), pods, nodes=nodes, now=NOW)
    assert a.group(1).label == "NodeNotReady: gpu-b2"
    assert a.group(0).state == "Ready"
    assert a.state == "Degraded"
    # without nodes we cannot know: the pods still look Ready
    assert health.assess(lws_view(lws), pods, now=NOW).group(1).state == "Ready"


def test_leader_deleted_is_recreating():
    lws, pods = golden_lws("basic")
    pods = copy.deepcopy(pods)
    leader = pod(pods, "basic-1")
    leader["metadata"]["deletionTimestamp"] = (NOW - timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    leader["metadata"]["deletionGracePeriodSeconds"] = 30  # requested 40s before NOW
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.group(1).label == "Recreating: leader deleted 40s ago"
    assert a.group(1).leader is None
    assert a.state == "Progressing"


def test_missing_worker_and_missing_group():
    lws, pods = golden_lws("basic")
    old = [p for p in pods if p["metadata"]["name"] != "basic-0-3"]
    a = health.assess(lws_view(lws), old, now=NOW)  # leaders are hours old at NOW
    assert a.group(0).label == "Missing: w3"
    assert a.group(0).missing == [3]
    # a recent leader whose workers are not there yet is a group being built
    young = datetime(2026, 11, 22, 10, 26, 10, tzinfo=timezone.utc)
    assert health.assess(lws_view(lws), old, now=young).group(0).state == "Recreating"
    gone = [p for p in pods if p["metadata"]["labels"][keys.GROUP_INDEX_LABEL] != "2"]
    a = health.assess(lws_view(lws), gone, now=NOW)
    assert a.group(2).label == "Missing: no pods"
    assert a.state == "Degraded"


def test_scale_up_in_progress_is_scaling_not_degraded():
    lws, pods = golden_lws("basic")
    lws = copy.deepcopy(lws)
    lws["spec"]["replicas"] = 5
    lws["metadata"]["generation"] = 2
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.state == "Scaling"
    assert [g.label for g in a.groups[3:]] == ["Missing: no pods"] * 2


def test_scale_down_shows_surge_groups_as_scaling():
    lws, pods = golden_lws("basic")
    lws = copy.deepcopy(lws)
    lws["spec"]["replicas"] = 2
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.group(2).surge
    assert a.state == "Scaling"


def test_rollout_in_progress_marks_outdated_groups_updating():
    lws, pods = golden_lws("basic-canary-partition2")
    lws = copy.deepcopy(lws)
    lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] = 0
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert [g.state for g in a.groups] == ["Updating", "Updating", "Ready"]
    assert a.state == "Progressing"
    assert "1/3 groups updated" in a.reason


def test_unavailable_when_no_group_ready():
    lws, pods = golden_lws("single")
    pods = copy.deepcopy(pods)
    for p in pods:
        p["status"]["phase"] = "Pending"
        p["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.state == "Unavailable"
    assert a.group(0).label == "Degraded: leader ImagePullBackOff"


def test_paused_annotation():
    lws, pods = golden_lws("basic-canary-partition2")
    lws = copy.deepcopy(lws)
    lws["metadata"]["annotations"][keys.PAUSED_PARTITION_ANNOTATION] = "0"
    state, reason = health.lws_health(lws_view(lws), group_pods(pods, 3), current_revision="86cb664869", now=NOW)
    assert state == "Paused" and "partition 2" in reason


def test_leader_ready_startup_policy_waits_for_leader():
    lws, pods = golden_lws("basic")
    lws = copy.deepcopy(lws)
    lws["spec"]["startupPolicy"] = "LeaderReady"
    pods = copy.deepcopy(pods)
    only = [p for p in pods if p["metadata"]["labels"][keys.GROUP_INDEX_LABEL] != "0" or
            p["metadata"]["name"] == "basic-0"]
    leader = pod(only, "basic-0")
    for c in leader["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"] = "False"
    g = health.assess(lws_view(lws), only, now=NOW).group(0)
    assert g.state == "Pending" and "leader Ready" in g.reason


def test_images_by_revision():
    lws, pods = golden_lws("basic-canary-partition2")
    a = health.assess(lws_view(lws), pods, now=NOW)
    images = health.images_by_revision(a.groups)
    assert images["685db546f6"]["worker"] == ["nvcr.io/nvidia/pytorch:24.05-py3"]
    assert images["86cb664869"]["worker"] == ["nvcr.io/nvidia/pytorch:24.06-py3"]


def test_revision_unknown_after_template_change_behind_a_full_partition():
    """partition >= replicas (staged/paused rollout): the controller never raises UpdateInProgress,
    but updatedReplicas drops to 0: no group runs the current revision, none is 'updated'."""
    lws, pods = golden_lws("basic")
    lws = copy.deepcopy(lws)
    lws["metadata"]["generation"] = lws["status"]["observedGeneration"] = 3
    lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] = 3
    lws["metadata"].setdefault("annotations", {})[keys.PAUSED_PARTITION_ANNOTATION] = "0"
    lws["status"].pop("updatedReplicas")
    a = health.assess(lws_view(lws), pods, now=NOW)
    assert a.current_revision is None and a.updated == 0
    assert [g.revision_role for g in a.groups] == ["stable"] * 3
    assert a.state == "Paused" and "0/3 groups updated" in a.reason
    # the same LWS with the counters intact (no template change) keeps the pods' revision
    lws["status"]["updatedReplicas"] = 3
    assert health.current_revision(lws_view(lws), pods) == revision_of(pods)


def revision_of(pods: list[dict]) -> str:
    return pods[0]["metadata"]["labels"][keys.REVISION_LABEL]
