"""model/verdict: the one verdict every view calls, its two reading rules, and what it is judged from.

On the golden dumps of a real controller (``objects/basic``: settled at 10:26, judged at 11:00) and
mutations of them; events in both API shapes.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from golden import golden_lws, golden_nodes

from kubectl_lws.model import events as E
from kubectl_lws.model import keys
from kubectl_lws.model.causes import Cause, pod_causes
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.timeutil import rfc3339
from kubectl_lws.model.verdict import Facts, assess_pods, events_needed, judge, settled_by_status

NOW = datetime(2026, 11, 22, 11, 0, 0, tzinfo=timezone.utc)


def crash(pods: list[dict], name: str, restarts: int = 4) -> list[dict]:
    """``name``'s container in CrashLoopBackOff after exit code 1, not Ready."""
    pods = copy.deepcopy(pods)
    p = next(p for p in pods if p["metadata"]["name"] == name)
    for c in p["status"]["conditions"]:
        if c["type"] in ("Ready", "ContainersReady"):
            c["status"] = "False"
    cs = p["status"]["containerStatuses"][0]
    cs.update(ready=False, restartCount=restarts, state={"waiting": {"reason": "CrashLoopBackOff"}},
              lastState={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-22T10:59:00Z"}})
    return pods


def recreate_event(uid: str, group: int, leader_uid: str, when: str, count: int = 1) -> dict:
    """A RecreateGroup as the v0.9+ controller records it (events.k8s.io/v1: ``related`` = the leader)."""
    return {"metadata": {"uid": uid, "name": f"basic.{uid}", "namespace": "golden"},
            "regarding": {"kind": "LeaderWorkerSet", "name": "basic", "namespace": "golden"},
            "related": {"kind": "Pod", "name": f"basic-{group}", "namespace": "golden", "uid": leader_uid},
            "reason": "RecreateGroup", "type": "Normal", "eventTime": when, "action": "Delete",
            "note": f"Worker pod basic-{group}-1 failed, deleted leader pod basic-{group} to recreate group {group}",
            **({"series": {"count": count, "lastObservedTime": when}} if count > 1 else {})}


# ---- the rule for events -------------------------------------------------------------------------------

def test_events_are_needed_for_a_group_not_ready_or_a_young_leader():
    lws, pods = golden_lws("basic")
    old = assess_pods(Facts(lws, pods, now=NOW))
    assert not events_needed(old)  # every group Ready, leaders 34 minutes old
    young = assess_pods(Facts(lws, pods, now=datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc)))
    assert events_needed(young)  # a 4-minute-old leader may be a loop's last re-creation
    sick = assess_pods(Facts(lws, crash(pods, "basic-1-2"), now=NOW))
    assert events_needed(sick)


# ---- what the pods alone say (no events): the same causes as with them -----------------------------------

def test_pod_causes_without_events_are_the_causes_status_shows():
    lws, pods = golden_lws("basic")
    pods = crash(pods, "basic-1-2")
    a = judge(Facts(lws, pods, golden_nodes(), now=NOW))
    g = a.group(1)
    assert g.cause is not None and g.cause.layer == "pods" and g.cause.reason == "ExitCode"
    assert g.reason == "w2 CrashLoopBackOff: exited with code 1 (4 restarts) (for 60s)"
    assert a.state == "Degraded" and a.reason == f"2/3 groups ready: group 1 Degraded: {g.reason}"
    assert a.events_info is None and g.recreations is None  # not read: unknown, not zero
    assert g.to_json()["cause"]["layer"] == "pods"
    # with events read (none about this group), the same cause and the same words
    b = judge(Facts(lws, pods, golden_nodes(), events=[], events_info={"api": "v1"}, now=NOW))
    assert (b.state, b.reason) == (a.state, a.reason) and b.events_info == {"api": "v1", "read": True}
    assert b.group(1).recreations.count == 0


def test_event_causes_carry_their_layer_and_stuck_follows_the_first_backoff():
    lws, pods = golden_lws("basic")
    pods = crash(pods, "basic-1-2")
    uid = next(p for p in pods if p["metadata"]["name"] == "basic-1-2")["metadata"]["uid"]
    backoff = {"metadata": {"uid": "e1", "name": "basic-1-2.e1", "namespace": "golden"},
               "involvedObject": {"kind": "Pod", "name": "basic-1-2", "uid": uid},
               "reason": "BackOff", "message": "Back-off restarting failed container main", "type": "Warning",
               "count": 9, "firstTimestamp": "2026-11-22T10:40:00Z", "lastTimestamp": "2026-11-22T10:59:00Z"}
    a = judge(Facts(lws, pods, events=E.normalize_all([backoff]), now=NOW))
    g = a.group(1)
    assert g.state == "Stuck" and g.reason.endswith("(for 20m)") and g.stuck
    assert g.cause.layer == "pods"  # the termination is the cause; the event dates it
    failed = dict(backoff, metadata={"uid": "e2", "name": "basic-1-2.e2"}, reason="FailedMount",
                  message='MountVolume.SetUp failed for volume "models"')
    g = judge(Facts(lws, pods, events=E.normalize_all([failed]), now=NOW)).group(1)
    assert g.cause.reason == "FailedMount" and g.cause.layer == "events"


def test_further_layers_plug_in_as_causes_with_a_layer_and_rank():
    lws, pods = golden_lws("basic")
    pods = crash(pods, "basic-1-2")
    queued = Cause("QuotaReserved", "couldn't assign flavors to pod set worker: insufficient unused quota",
                   "waiting for Kueue admission", "Workload/leaderworkerset-basic-1-0a1b2", None, 1, True,
                   layer="kueue", priority=-1)
    g = judge(Facts(lws, pods, causes={1: [queued]}, now=NOW)).group(1)
    assert g.cause is queued and g.reason == "waiting for Kueue admission"
    assert g.to_json()["cause"]["layer"] == "kueue"
    # a cause of a Ready group is history: no group shows one
    assert judge(Facts(lws, pods, causes={0: [queued]}, now=NOW)).group(0).cause is None


# ---- re-creations: by leader incarnation, not by occurrence ----------------------------------------------

def test_a_recreation_recorded_twice_counts_once():
    lws, pods = golden_lws("basic")
    live = next(p for p in pods if p["metadata"]["name"] == "basic-1")["metadata"]["uid"]
    t0 = NOW - timedelta(minutes=4)
    # two re-creations of group 1; the controller recorded the second one twice (series.count 2)
    raw = [recreate_event("r1", 1, "leader-a", rfc3339(t0)),
           recreate_event("r2", 1, "leader-b", rfc3339(t0 + timedelta(minutes=1)), count=2)]
    evs = E.normalize_all(raw)
    rec = E.recreations(E.events_of_lws(evs, "basic"), now=NOW, leaders={1: live})
    assert rec[1].count == 2 and not rec[1].loop  # not 3: no false "re-creation loop"
    a = judge(Facts(lws, pods, events=evs, now=NOW))
    assert a.state == "Healthy" and a.group(1).recreations.count == 2
    # a third incarnation replaced within the window is a loop, and the LWS needs a human
    raw.append(recreate_event("r3", 1, "leader-c", rfc3339(t0 + timedelta(minutes=2))))
    a = judge(Facts(lws, pods, events=E.normalize_all(raw), now=NOW))
    assert a.group(1).recreations.count == 3 and a.group(1).recreations.loop
    # how the last incarnation ended: the pods are gone, the last RecreateGroup names the worker that failed
    assert a.state == "Degraded" and "group 1 Ready: loop: w1 failed, 3 in 4m" in a.reason
    assert (a.group(1).recreations.last_end, a.group(1).recreations.last_end_from) == ("w1 failed", "events")


def test_leaders_replaced_by_hand_count_from_their_own_events():
    lws, pods = golden_lws("basic")
    live = next(p for p in pods if p["metadata"]["name"] == "basic-2")["metadata"]["uid"]

    def unhealthy(uid: str, leader_uid: str) -> dict:
        return {"metadata": {"uid": uid, "name": f"basic-2.{uid}"}, "type": "Warning", "reason": "Unhealthy",
                "involvedObject": {"kind": "Pod", "name": "basic-2", "uid": leader_uid},
                "message": "Readiness probe failed", "count": 3, "firstTimestamp": "2026-11-22T10:50:00Z",
                "lastTimestamp": "2026-11-22T10:51:00Z"}

    evs = E.normalize_all([unhealthy("u1", "old-leader"), unhealthy("u2", live)])
    rec = E.recreations(E.events_of_lws(evs, "basic"), now=NOW, leaders={2: live})
    assert rec[2].count == 1 and rec[2].last_reason == "new leader pod"


# ---- judged from the LWS status (list at fleet scale) ---------------------------------------------------

def test_a_settled_status_gives_the_verdict_the_pods_give():
    lws, pods = golden_lws("basic")
    view = lws_view(lws)
    assert settled_by_status(view, NOW)
    from_status = judge(Facts(lws, None, now=NOW))
    from_pods = judge(Facts(lws, pods, golden_nodes(), now=NOW))
    assert from_status.source == "lws-status" and from_pods.source == "pods"
    assert (from_status.state, from_status.reason) == (from_pods.state, from_pods.reason) == \
        ("Healthy", "3/3 groups ready")
    assert (from_status.ready, from_status.updated, from_status.current) == (3, 3, 3)
    assert not events_needed(from_status)


@pytest.mark.parametrize("change, why", [
    (lambda o: o["status"]["conditions"][1].update(lastTransitionTime="2026-11-22T10:55:00Z"),
     "Available for 5 minutes only: a group was unready (maybe re-created) inside the loop window"),
    (lambda o: o["status"].pop("observedGeneration"), "before v0.9 readyReplicas counted Pending workers"),
    (lambda o: o["metadata"].update(generation=2), "a spec change not yet observed"),
    (lambda o: o["status"].update(readyReplicas=2), "a group not ready"),
    (lambda o: o["status"].update(updatedReplicas=2), "a rollout"),
    (lambda o: o["status"].update(replicas=4), "a surge group"),
    (lambda o: o["status"]["conditions"].append({"type": "Failed", "status": "True"}), "a condition we do not know"),
    (lambda o: o["status"]["conditions"][1].update(status="False"), "not Available"),
    (lambda o: o["metadata"].setdefault("annotations", {}).update({keys.PAUSED_PARTITION_ANNOTATION: "0"}),
     "a paused rollout is Paused, whatever the pods"),
    (lambda o: o["metadata"].update(deletionTimestamp="2026-11-22T10:59:00Z"), "being deleted"),
])
def test_what_makes_list_read_the_pods(change, why):
    lws, _ = golden_lws("basic")
    lws = copy.deepcopy(lws)
    change(lws)
    assert not settled_by_status(lws_view(lws), NOW), why
    with pytest.raises(ValueError):
        judge(Facts(lws, None, now=NOW))


def test_the_model_has_no_import_circle():
    """health (pods) and events each depend on causes only; verdict joins them."""
    code = ("import sys; import kubectl_lws.model.{0}; "
            "print(sorted(m for m in sys.modules if m.startswith('kubectl_lws.model.')))")
    for module, must_not in (("health", "events"), ("events", "health"), ("causes", "health")):
        out = subprocess.run([sys.executable, "-c", code.format(module)], capture_output=True, text=True,
                             check=True).stdout
        assert f"kubectl_lws.model.{must_not}'" not in out, (module, out)


# ---- how the last incarnation of a looping group ended (issue 28 item 3) --------------------------------

def _loop_of_group_1() -> tuple[dict, list[dict], list]:
    """basic's group 1 re-created three times in the last 4 minutes (the golden pods are its newest)."""
    lws, pods = golden_lws("basic")
    t0 = NOW - timedelta(minutes=4)
    raw = [recreate_event(f"r{i}", 1, f"leader-{i}", rfc3339(t0 + timedelta(minutes=i))) for i in range(3)]
    return lws, pods, E.normalize_all(raw)


def _terminated(pod: dict, code: int, reason: str, finished: str, *, state: dict | None = None) -> None:
    cs = pod["status"]["containerStatuses"][0]
    cs.update(restartCount=int(cs.get("restartCount") or 0) + 1, lastState={"terminated": {
        "exitCode": code, "reason": reason, "startedAt": "2026-11-22T10:50:00Z", "finishedAt": finished}})
    if state is not None:
        cs["state"] = state


def test_a_loop_says_how_the_last_incarnation_ended_from_the_terminating_pods():
    lws, pods, evs = _loop_of_group_1()
    # the incarnation just replaced: its worker 3 still Terminating, its lastState the OOM kill
    gone = copy.deepcopy(next(p for p in pods if p["metadata"]["name"] == "basic-1-3"))
    gone["metadata"].update(uid="old-w3", deletionTimestamp="2026-11-22T10:59:50Z")
    _terminated(gone, 137, "OOMKilled", "2026-11-22T10:59:49Z")
    live = [p for p in pods if p["metadata"]["name"] != "basic-1-3"]
    a = judge(Facts(lws, [*live, gone], events=evs, now=NOW))
    rec = a.group(1).recreations
    assert (rec.last_end, rec.last_end_from) == ("w3 exit 137 OOMKilled", "pods")
    assert "group 1" in a.reason and "loop: w3 exit 137 OOMKilled, 3 in 4m" in a.reason
    assert rec.to_json()["lastEnd"] == "w3 exit 137 OOMKilled"


def test_the_first_ending_ends_the_incarnation_and_a_crash_looping_container_is_judged_by_its_newest_run():
    lws, pods, evs = _loop_of_group_1()
    pods = copy.deepcopy(pods)
    w1 = next(p for p in pods if p["metadata"]["name"] == "basic-1-1")
    w2 = next(p for p in pods if p["metadata"]["name"] == "basic-1-2")
    # w1 ended first (exit 1): that started the end; w2 failed after it, twice (exit 1, then just now exit 2)
    _terminated(w1, 1, "Error", "2026-11-22T10:58:00Z")
    _terminated(w2, 1, "Error", "2026-11-22T10:59:00Z",
                state={"terminated": {"exitCode": 2, "reason": "Error", "finishedAt": "2026-11-22T10:59:58Z"}})
    rec = judge(Facts(lws, pods, events=evs, now=NOW)).group(1).recreations
    assert rec.last_end == "w1 exit 1 Error"  # incarnation.decide_end's rule, as record and history name it
    # the cause a crash-looping container gives is its newest run (state.terminated), not the one before it
    assert [c.summary for c in pod_causes(w2, 2)] == ["w2 exited with code 2 (1 restart)"]


def test_under_restart_policy_none_a_container_ending_does_not_end_the_incarnation():
    lws, pods, evs = _loop_of_group_1()
    lws = copy.deepcopy(lws)
    lws["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "None"
    pods = copy.deepcopy(pods)
    _terminated(next(p for p in pods if p["metadata"]["name"] == "basic-1-2"), 1, "Error", "2026-11-22T10:59:00Z")
    rec = judge(Facts(lws, pods, events=evs, now=NOW)).group(1).recreations
    assert (rec.last_end, rec.last_end_from) == ("w1 failed", "events")


def test_a_loop_with_no_end_known_keeps_the_count_and_the_last_time():
    lws, pods, _ = _loop_of_group_1()
    t0 = NOW - timedelta(minutes=4)
    raw = [recreate_event(f"r{i}", 1, f"leader-{i}", rfc3339(t0 + timedelta(minutes=i))) for i in range(3)]
    for ev in raw:
        ev["note"] = "deleted leader pod"  # an event that names no failed pod
    a = judge(Facts(lws, pods, events=E.normalize_all(raw), now=NOW))
    assert a.group(1).recreations.last_end is None
    assert "re-creation loop: 3 re-creations, last 2m ago" in a.reason


def test_a_loop_of_evictions_says_so_from_the_pods_disruption_condition():
    lws, pods, evs = _loop_of_group_1()
    gone = copy.deepcopy(next(p for p in pods if p["metadata"]["name"] == "basic-1-3"))
    gone["metadata"].update(uid="old-w3", deletionTimestamp="2026-11-22T10:59:50Z")
    gone["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True",
                                         "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"})
    live = [p for p in pods if p["metadata"]["name"] != "basic-1-3"]
    rec = judge(Facts(lws, [*live, gone], events=evs, now=NOW)).group(1).recreations
    assert (rec.last_end, rec.last_end_from) == ("w3 evicted", "pods")
