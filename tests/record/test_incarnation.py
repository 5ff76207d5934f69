"""model/incarnation: which container instances ended between two sightings of a pod, and the one rule that names
how an incarnation ended."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

from kubectl_lws.model import incarnation as I

P = "leaderworkerset.sigs.k8s.io/"


def pod(name: str = "bad-0-1", worker: int = 1, *, restarts: int = 0, last: dict | None = None,
        state: dict | None = None, deleting: str | None = None, conditions: list | None = None) -> dict:
    meta = {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-11-22T10:00:00Z",
            "labels": {P + "name": "bad", P + "group-index": "0", P + "worker-index": str(worker)}}
    if deleting:
        meta.update(deletionTimestamp=deleting, deletionGracePeriodSeconds=30)
    cs = {"name": "vllm", "restartCount": restarts, "state": state or {"running": {"startedAt": "x"}},
          "lastState": {"terminated": last} if last else {}}
    return {"metadata": meta, "spec": {"nodeName": "gpu-a1", "containers": [{"name": "vllm"}]},
            "status": {"phase": "Running", "containerStatuses": [cs], "conditions": conditions or []}}


CRASH = {"exitCode": 1, "reason": "Error", "message": "Traceback...\nKeyError: 'x'\n",
         "startedAt": "2026-11-22T10:00:01Z", "finishedAt": "2026-11-22T10:00:16Z"}
OOM = {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-22T10:00:01Z", "finishedAt": "2026-11-22T10:00:21Z"}


def test_a_rising_restart_count_is_the_previous_instance_ending():
    before, after = pod(), pod(restarts=1, last=CRASH)
    (t,) = I.terminations(before, after)
    assert (t.pod, t.worker, t.container, t.restart, t.previous) == ("bad-0-1", 1, "vllm", 0, True)
    assert (t.exit_code, t.reason, t.message, t.node, t.finished) == (1, "Error", "Traceback...\nKeyError: 'x'",
                                                                       "gpu-a1", "2026-11-22T10:00:16Z")
    assert I.terminations(after, copy.deepcopy(after)) == []  # seen already: nothing new


def test_first_sight_of_a_restarted_container_still_counts_and_a_terminated_state_counts_once():
    assert [t.restart for t in I.terminations(None, pod(restarts=2, last=CRASH))] == [1]
    assert I.terminations(None, pod()) == []
    done = pod(state={"terminated": OOM})
    (t,) = I.terminations(pod(), done)
    assert (t.previous, t.restart, t.exit_code) == (False, 0, 137)
    assert I.terminations(done, copy.deepcopy(done)) == []


def test_signals_and_one_line_texts():
    assert I.signal_of(137) == "SIGKILL" and I.signal_of(143) == "SIGTERM" and I.signal_of(1) is None
    assert I.signal_of(128 + 40) == "signal 40" and I.signal_of(None) is None
    ev = I.Evidence(group=0, terminations=I.terminations(None, pod(restarts=1, last=OOM)))
    end = I.decide_end(ev)
    assert I.end_text(end) == "w1 exit 137 OOMKilled" and end["signal"] == "SIGKILL"
    assert I.end_text({"kind": "eviction", "worker": 0}) == "leader evicted"
    assert I.end_text({"kind": "unknown", "worker": 2}) == "w2 failed, cause unknown"
    assert I.end_text(None) == ""


def test_the_container_that_failed_before_the_deletion_names_the_end_not_the_sigterms_after_it():
    sigterm = dict(CRASH, exitCode=143, finishedAt="2026-11-22T10:00:40Z")
    late = I.terminations(None, pod("bad-0-2", 2, restarts=1, last=sigterm))
    early = I.terminations(None, pod(restarts=1, last=CRASH))
    ev = I.Evidence(group=0, terminations=late + early,
                    deletion_started=datetime(2026, 11, 22, 10, 0, 17, tzinfo=timezone.utc))
    end = I.decide_end(ev)
    assert (end["kind"], end["pod"], end["exitCode"]) == ("container", "bad-0-1", 1)


def test_the_order_of_the_other_endings():
    base = dict(group=1, revision="aaa")
    assert I.decide_end(I.Evidence(**base))["kind"] == "deleted"
    assert I.decide_end(I.Evidence(**base, next_revision="bbb"))["kind"] == "rolling-update"
    assert I.decide_end(I.Evidence(**base, next_revision="aaa"))["kind"] == "deleted"
    assert I.decide_end(I.Evidence(**base, next_revision="bbb", restart_event="kubectl lws restart: ..."))["kind"] \
        == "restart"
    assert I.decide_end(I.Evidence(**base, replicas=1, restart_event="x"))["kind"] == "scale-down"
    assert I.decide_end(I.Evidence(**base, replicas=1, lws_deleted=True))["kind"] == "lws-deleted"
    evicted = I.Evidence(**base, lws_deleted=True, disruption=("eviction", "node drain", "bad-1-2", 2))
    end = I.decide_end(evicted)
    assert (end["kind"], end["pod"], end["worker"], end["detail"]) == ("eviction", "bad-1-2", 2, "node drain")
    recreated = I.decide_end(I.Evidence(**base, lws="bad", recreate_event=(
        "Worker pod bad-1-3 failed, deleted leader pod bad-1 to recreate group 1")))
    assert (recreated["kind"], recreated["pod"], recreated["worker"]) == ("unknown", "bad-1-3", 3)
    assert I.decide_end(I.Evidence(**base, unseen="gap"))["detail"] == "gap"
    for end in (I.decide_end(I.Evidence(**base)), recreated):
        assert set(end) == {"kind", "pod", "worker", "container", "exitCode", "reason", "signal", "message", "node",
                            "detail"}
        assert end["kind"] in I.END_KINDS


def test_disruptions_from_the_pod_and_from_events():
    preempted = pod(conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                                 "message": "Preempted by a higher priority pod"}])
    assert I.disruption(preempted) == ("preemption", "Preempted by a higher priority pod")
    tainted = pod(conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}])
    assert I.disruption(tainted)[0] == "node-lost"
    evicted = pod()
    evicted["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    assert I.disruption(evicted) == ("eviction", "The node was low on resource: memory.")
    assert I.disruption(pod()) is None
    assert I.event_disruption("Preempted", "by x")[0] == "preemption"
    assert I.event_disruption("Killing", "Stopping container") is None


def test_incarnation_ids_deletion_start_and_readiness():
    leader = pod("bad-0", 0)
    assert I.incarnation_id(leader) == "20261122T100000Z-uid-bad-0"
    going = pod("bad-0", 0, deleting="2026-11-22T10:01:30Z")
    assert I.deletion_started(going) == datetime(2026, 11, 22, 10, 1, 0, tzinfo=timezone.utc)
    ready = [pod("bad-0", 0, conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T10:00:05Z"}]),
             pod("bad-0-1", 1, conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T10:00:09Z"}])]
    assert I.ready_at(ready, 2) == "2026-11-22T10:00:09Z"
    assert I.ready_at(ready, 3) is None and I.ready_at(ready[:1] + [pod()], 2) is None


def test_the_restart_event_names_the_leader_it_deleted():
    ev = I.restart_event("bad", "crash", 1, "bad-1", "uid-1", datetime(2026, 11, 22, tzinfo=timezone.utc))
    assert ev["reason"] == I.RESTART_EVENT_REASON and ev["related"]["uid"] == "uid-1"
    assert ev["involvedObject"] == {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                                    "name": "bad", "namespace": "crash"}
    assert "re-create group 1" in ev["message"]
