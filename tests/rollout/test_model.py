"""Rollout model on the golden object dumps (real apiserver + real LWS controller) and small edits of them."""

from __future__ import annotations

import copy
import json

import pytest

from golden import GOLDEN
from kubectl_lws import errors
from kubectl_lws.model import keys
from kubectl_lws.model import rollout as m
from kubectl_lws.model.plans import hpa_objects_targeting

CANARY = GOLDEN / "objects" / "basic-canary-partition2"
BASIC = GOLDEN / "objects" / "basic"


def load(directory, name):
    data = json.loads((directory / name).read_text())
    return data.get("items", data) if name != "leaderworkerset.json" else data


@pytest.fixture(scope="module")
def canary():
    lws = load(CANARY, "leaderworkerset.json")
    pods = load(CANARY, "pods.json")
    sts = load(CANARY, "statefulsets.json")
    revs = load(CANARY, "controllerrevisions.json")
    leader_sts = next(s for s in sts if s["metadata"]["name"] == "basic")
    return lws, pods, leader_sts, revs


def with_partition(lws, partition, replicas=None):
    out = copy.deepcopy(lws)
    out["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] = partition
    if replicas is not None:
        out["spec"]["replicas"] = replicas
    return out


# ---- revisions / history (D1) -------------------------------------------------------------------

def test_d1_only_lws_owned_revisions_are_history(canary):
    lws, pods, leader_sts, revs = canary
    assert len(revs) == 7  # the label query also returns leader and worker StatefulSet revisions
    own = m.lws_revisions(revs, lws["metadata"]["uid"])
    assert [r["metadata"]["name"] for r in own] == ["basic-685db546f6-1", "basic-86cb664869-2"]
    # an LWS with another uid owns none of them
    assert m.lws_revisions(revs, "other-uid") == []


def test_d1_without_owner_refs_falls_back_to_the_sts_hash_label(canary):
    revs = copy.deepcopy(canary[3])
    for r in revs:
        r["metadata"].pop("ownerReferences", None)
    assert [m.revision_key(r) for r in m.lws_revisions(revs)] == ["685db546f6", "86cb664869"]


def test_history_images_groups_and_current(canary):
    lws, pods, leader_sts, revs = canary
    key = m.current_revision_key(leader_sts)
    assert key == "86cb664869"
    entries = m.history(revs, pods, key, lws["metadata"]["uid"])
    assert [(e.revision, e.key, e.groups, e.current) for e in entries] == [
        (1, "685db546f6", (0, 1), False), (2, "86cb664869", (2,), True)]
    assert entries[0].worker_images == ("nvcr.io/nvidia/pytorch:24.05-py3",)
    assert entries[1].worker_images == ("nvcr.io/nvidia/pytorch:24.06-py3",)
    assert entries[1].leader_images == ("nvcr.io/nvidia/pytorch:24.05-py3",)


def test_basic_history_has_one_revision():
    lws = load(BASIC, "leaderworkerset.json")
    revs = load(BASIC, "controllerrevisions.json")
    pods = load(BASIC, "pods.json")
    entries = m.history(revs, pods, None, lws["metadata"]["uid"])
    assert [(e.revision, e.groups, e.current) for e in entries] == [(1, (0, 1, 2), True)]


# ---- status ------------------------------------------------------------------------------------

def test_finished_canary_partition_2_is_done(canary):
    lws, pods, leader_sts, _ = canary
    st = m.evaluate_status(lws, pods, m.current_revision_key(leader_sts))
    assert st.done and not st.failing
    assert st.target == (2,) and st.target_done == (2,) and st.held_old == (0, 1)
    assert "1 of 1 canary group updated (groups >= 2)" in st.message
    assert "2 held at the old revision" in st.message


def test_lowering_partition_is_not_done_until_groups_move(canary):
    lws, pods, leader_sts, _ = canary
    st = m.evaluate_status(with_partition(lws, 0), pods, "86cb664869")
    assert not st.done
    assert st.message.startswith("Waiting for rollout to finish: 1 of 3 groups")


def test_unobserved_generation_waits(canary):
    lws, pods, _, _ = canary
    lws = copy.deepcopy(lws)
    lws["metadata"]["generation"] = 4
    st = m.evaluate_status(lws, pods, "86cb664869")
    assert not st.done and "observe generation 4" in st.message


@pytest.mark.parametrize("partition", [3, 7])
def test_partition_at_or_above_replicas_is_done_and_held(canary, partition):
    lws, pods, _, _ = canary
    st = m.evaluate_status(with_partition(lws, partition), pods, "86cb664869")
    assert st.done and st.target == () and st.effective_partition == 3
    assert "Rollout held" in st.message


def test_surge_group_blocks_done_only_at_partition_0(canary):
    lws, pods, _, _ = canary
    surge_pods = copy.deepcopy([p for p in pods if p["metadata"]["labels"][keys.GROUP_INDEX_LABEL] == "2"])
    for p in surge_pods:
        p["metadata"]["labels"][keys.GROUP_INDEX_LABEL] = "3"
        p["metadata"]["name"] = p["metadata"]["name"].replace("basic-2", "basic-3")
    all_new = copy.deepcopy(pods)
    for p in all_new:
        p["metadata"]["labels"][keys.REVISION_LABEL] = "86cb664869"
    st0 = m.evaluate_status(with_partition(lws, 0), all_new + surge_pods, "86cb664869")
    assert not st0.done and st0.surge_groups == (3,) and "surge group still to be removed" in st0.message
    st2 = m.evaluate_status(with_partition(lws, 2), pods + surge_pods, "86cb664869")
    assert st2.done and "kept until partition is 0" in st2.message
    done = m.evaluate_status(with_partition(lws, 0), all_new, "86cb664869")
    assert done.done and "complete" in done.message


def test_failing_canary_group_is_reported(canary):
    lws, pods, _, _ = canary
    pods = copy.deepcopy(pods)
    bad = next(p for p in pods if p["metadata"]["name"] == "basic-2-1")
    bad["status"]["conditions"] = [c if c["type"] != "Ready" else {**c, "status": "False"}
                                   for c in bad["status"]["conditions"]]
    bad["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    bad["status"]["containerStatuses"][0]["restartCount"] = 4
    bad["status"]["containerStatuses"][0]["ready"] = False

    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.health import group_health

    view = lws_view(lws)

    def health(group, size):
        gh = group_health(view, group, current_revision="86cb664869")
        return gh.group_ready, (gh.label if gh.failing else None)

    st = m.evaluate_status(lws, pods, "86cb664869", health=health)
    assert not st.done
    assert st.failing and st.failing[0][0] == 2 and "CrashLoopBackOff" in st.failing[0][1]
    # the same trouble in a held group (below the partition) is not the rollout's failure
    pods2 = copy.deepcopy(load(CANARY, "pods.json"))
    held = next(p for p in pods2 if p["metadata"]["name"] == "basic-0-1")
    held["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    assert m.evaluate_status(lws, pods2, "86cb664869", health=health).failing == ()


# ---- partition arithmetic and plans --------------------------------------------------------------

def test_canary_partition_math_and_refusals():
    assert m.canary_partition(4, groups=1) == 3
    assert m.canary_partition(4, groups=4) == 0
    assert m.canary_partition(4, groups=0) == 4
    assert m.canary_partition(4, partition=9) == 9
    with pytest.raises(errors.UsageError, match="more than the 4 groups"):
        m.canary_partition(4, groups=5)
    with pytest.raises(errors.UsageError):
        m.canary_partition(4, groups=-1)
    with pytest.raises(errors.UsageError):
        m.canary_partition(4, partition=-2)


def test_promote_partition_math():
    assert m.promote_partition(3, 4) == 2
    assert m.promote_partition(3, 4, step=2) == 1
    assert m.promote_partition(1, 4, step=5) == 0
    assert m.promote_partition(9, 4, step=1) == 3  # a held partition counts as replicas
    assert m.promote_partition(3, 4, full=True) == 0
    with pytest.raises(errors.UsageError):
        m.promote_partition(3, 4, step=0)


def test_plan_promote_from_golden_canary(canary):
    lws, pods, leader_sts, _ = canary
    plan = m.plan_partition(lws, pods, "86cb664869", 1, action="promote")
    assert plan.recreate_now == (1,) and plan.already_updated == (2,) and plan.held == (0,)
    assert plan.down_at_once == 1 and plan.min_serving == 2 and plan.ready_now == 3
    assert plan.patch() == {"spec": {"rolloutStrategy": {"rollingUpdateConfiguration": {"partition": 1}}}}
    full = m.plan_partition(lws, pods, "86cb664869", 0, action="promote")
    assert full.recreate_now == (0, 1) and full.held == ()


def test_plan_canary_without_pending_template_recreates_nothing():
    lws = load(BASIC, "leaderworkerset.json")
    pods = load(BASIC, "pods.json")
    plan = m.plan_partition(lws, pods, "685db546f6", 2, action="canary")
    assert plan.recreate_now == () and plan.already_updated == (2,) and plan.held == (0, 1)
    from kubectl_lws.render.rollout import plan_lines

    text = "\n".join(plan_lines(plan))
    assert "the next template change updates groups >= 2 only (1 group)" in text
    assert "partition 0 -> 2" in text


def test_raising_partition_notes_that_updated_groups_stay(canary):
    lws, pods, _, _ = canary
    plan = m.plan_partition(lws, pods, "86cb664869", 3, action="canary")
    assert plan.held_updated == (2,)
    assert any("never reverts" in n for n in plan.notes)
    from kubectl_lws.render.rollout import plan_lines

    assert "partition 2 -> 3 (>= 3 replicas: no group is updated, the rollout is held)" in plan_lines(plan)


def test_pause_resume_targets(canary):
    lws = canary[0]
    new, ann, why = m.pause_target(lws)
    assert (new, ann, why) == (3, {keys.PAUSED_PARTITION_ANNOTATION: "2"}, None)
    paused = with_partition(lws, 3)
    paused["metadata"]["annotations"][keys.PAUSED_PARTITION_ANNOTATION] = "2"
    new, ann, why = m.pause_target(paused)
    assert ann == {} and "already paused" in why
    assert m.resume_target(paused) == (2, {keys.PAUSED_PARTITION_ANNOTATION: None}, None)
    new, ann, why = m.resume_target(lws)
    assert ann == {} and "not paused" in why
    assert not keys.PAUSED_PARTITION_ANNOTATION.startswith("leaderworkerset.")


# ---- undo ---------------------------------------------------------------------------------------

def test_undo_plan_to_previous_revision(canary):
    lws, pods, leader_sts, revs = canary
    plan = m.plan_undo(lws, revs, pods, "86cb664869")
    assert plan.to_revision == 1 and plan.to_key == "685db546f6"
    assert plan.recreate == (2,) and plan.held == (0, 1)
    ops = plan.json_patch(lws)
    assert [o["path"] for o in ops] == ["/spec/leaderWorkerTemplate", "/spec/networkConfig"]
    assert "$patch" not in json.dumps(ops)
    assert ops[0]["value"]["workerTemplate"]["spec"]["containers"][0]["image"].endswith("24.05-py3")


def test_undo_refuses_gone_revision(canary):
    lws, pods, _, revs = canary
    with pytest.raises(errors.LwsError, match="revision 5 of basic no longer exists"):
        m.plan_undo(lws, revs, pods, "86cb664869", to_revision=5)
    basic = load(BASIC, "leaderworkerset.json")
    with pytest.raises(errors.LwsError, match="no earlier revision"):
        m.plan_undo(basic, load(BASIC, "controllerrevisions.json"), load(BASIC, "pods.json"), "685db546f6")


def test_spans():
    assert m.spans([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert m.groups_phrase([3]) == "group 3" and m.groups_phrase([]) == "none"


def test_hpa_targeting():
    hpa = {"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "LeaderWorkerSet", "name": "basic"},
                                               "minReplicas": 2, "maxReplicas": 6}}
    other = {"metadata": {"name": "x"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "basic"}}}
    foreign = {"metadata": {"name": "f"}, "spec": {"scaleTargetRef": {
        "apiVersion": "example.com/v1", "kind": "LeaderWorkerSet", "name": "basic"}}}
    assert hpa_objects_targeting([hpa, other, foreign], "basic") == [hpa]
    assert "2-6 groups" in m.hpa_note(hpa, "pause")


def test_recreate_tracker_flags_a_group_that_keeps_coming_back(canary):
    lws, pods, _, _ = canary
    tracker = m.RecreateTracker(threshold=3)
    for n in range(3):
        incarnation = copy.deepcopy(pods)
        for p in incarnation:
            if p["metadata"]["name"] == "basic-2":
                p["metadata"]["uid"] = f"uid-{n}"
        st = m.evaluate_status(with_partition(lws, 2), incarnation, "86cb664869")
        tracker.observe(st)
        assert bool(tracker.failing(st)) == (n == 2)
    assert "re-created 2 times" in tracker.failing(st)[0][1]
    # a held group (below the partition) coming back is not the rollout's failure
    tracker = m.RecreateTracker(threshold=2)
    for n in range(3):
        incarnation = copy.deepcopy(pods)
        for p in incarnation:
            if p["metadata"]["name"] == "basic-0":
                p["metadata"]["uid"] = f"uid-{n}"
                p["metadata"]["labels"][keys.REVISION_LABEL] = "86cb664869"
        st = m.evaluate_status(with_partition(lws, 2), incarnation, "86cb664869")
        tracker.observe(st)
    assert tracker.failing(st) == []
