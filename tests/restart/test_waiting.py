"""The wait goals of kubectl_lws.waiting, on synthetic pods (the watch itself is covered end to end)."""

from __future__ import annotations

from kubectl_lws.waiting import GroupGoal, groups_check


def pod(name: str, group: int, worker: int, uid: str, *, ready: bool = True, deleting: bool = False,
        unschedulable: bool = False) -> dict:
    meta = {"name": name, "uid": uid, "labels": {"leaderworkerset.sigs.k8s.io/name": "svc",
                                                 "leaderworkerset.sigs.k8s.io/group-index": str(group),
                                                 "leaderworkerset.sigs.k8s.io/worker-index": str(worker)}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T11:00:00Z"
    status: dict = {"phase": "Running" if ready else "Pending",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if unschedulable:
        status["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/7 nodes are available: 7 node(s) were unschedulable."})
    return {"metadata": meta, "spec": {}, "status": status}


OLD = frozenset({"a", "b"})


def test_recreated_needs_new_uids_and_all_ready() -> None:
    check = groups_check([GroupGoal(1, OLD)], size=2)
    assert check([pod("svc-1", 1, 0, "a"), pod("svc-1-1", 1, 1, "b")]) == (
        False, "group 1: not re-created yet (2 old pod(s) running)")
    assert check([pod("svc-1", 1, 0, "a", deleting=True), pod("svc-1-1", 1, 1, "b", deleting=True)])[1] == \
        "group 1: 2 old pod(s) terminating"
    done, status = check([pod("svc-1", 1, 0, "c", ready=False, unschedulable=True)])
    assert not done and "1/2" not in status and "svc-1 unschedulable" in status
    assert not check([pod("svc-1", 1, 0, "c"), pod("svc-1-1", 1, 1, "b")])[0]  # an old worker left
    assert check([pod("svc-1", 1, 0, "c"), pod("svc-1-1", 1, 1, "d")]) == (True, "group 1: Ready (2/2 new pods)")


def test_gone_goal_and_several_groups() -> None:
    check = groups_check([GroupGoal(2, gone=True), GroupGoal(3, gone=True)], size=1)
    assert check([pod("svc-2", 2, 0, "x", deleting=True)]) == (False, "group 2: 1 pod(s) left; group 3: gone")
    assert check([pod("svc-0", 0, 0, "y")])[0]


def test_plain_ready_goal_without_old_pods() -> None:
    check = groups_check([GroupGoal(0)], size=2)
    assert check([pod("svc-0", 0, 0, "a")]) == (False, "group 0: 1/2 pods Ready")
    assert check([pod("svc-0", 0, 0, "a"), pod("svc-0-1", 0, 1, "b")]) == (True, "group 0: Ready (2/2 pods)")
    assert check([])[1] == "group 0: waiting for a leader"
