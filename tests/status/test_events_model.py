"""model/events on the real recordings (golden ``events/``): both APIs, groups, causes, re-creations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from golden import GOLDEN
from kubectl_lws.model import events as E
from kubectl_lws.model.timeutil import parse_time

EV = GOLDEN / "events"


def items(name: str) -> list[dict]:
    return json.loads((EV / name).read_text())["items"]


@pytest.fixture(scope="module")
def core():
    return items("core-v1-events-ev.json")


@pytest.fixture(scope="module")
def v1():
    return items("events-k8s-io-v1-events-ev.json")


def test_both_apis_normalise_to_the_same_events_and_dedupe_by_uid(core, v1):
    a, b = E.normalize_all(core), E.normalize_all(v1)
    assert len(a) == len(b) == 58
    key = lambda e: (e.uid, e.reason, e.message, e.object, e.count, e.first, e.last, e.type)  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, b))
    assert {e.api for e in a} == {"v1"} and {e.api for e in b} == {"events.k8s.io/v1"}
    assert len(E.normalize_all(core + v1)) == 58


def test_aggregated_failed_create(core):
    ev = next(e for e in E.normalize_all(core) if e.reason == "FailedCreate" and e.object_name == "quota-1")
    assert ev.count == 12 and ev.first == parse_time("2026-11-25T15:15:35Z")
    assert ev.last == parse_time("2026-11-25T15:15:45Z")
    assert E.aggregate_text(ev) == "x12 over 10s"


def test_groups_from_names_and_messages(core):
    mine = E.events_of_lws(E.normalize_all(core), "quota")
    where = {(le.event.reason, le.event.object): (le.group, le.worker) for le in mine}
    assert where[("FailedCreate", "StatefulSet/quota-1")] == (1, 1)  # from "Create Pod quota-1-1 in ..."
    assert where[("Scheduled", "Pod/quota-0-2")] == (0, 2)
    assert where[("AllGroupsReady", "LeaderWorkerSet/quota")] == (None, None)
    assert all(le.event.object_name.startswith("quota") for le in mine)
    rec = [le for le in E.events_of_lws(E.normalize_all(core), "recreate") if le.event.reason == "RecreateGroup"]
    assert [le.group for le in rec] == [1, 1]


@pytest.mark.parametrize("kind,name,want", [
    ("Pod", "vllm-3", (3, 0)), ("Pod", "vllm-3-7", (3, 7)), ("StatefulSet", "vllm-3", (3, None)),
    ("StatefulSet", "vllm", (None, None)), ("Service", "vllm-2", (2, None)), ("Pod", "vllm", None),
    ("Pod", "vllm-x", None), ("Pod", "other-1", None), ("ControllerRevision", "vllm-5f6cd4d985-1", None)])
def test_object_group(kind, name, want):
    assert E.object_group(kind, name, "vllm") == want


def test_a_longer_lws_name_keeps_its_own_objects():
    raw = [{"metadata": {"uid": "1", "name": "a"}, "involvedObject": {"kind": "Pod", "name": "vllm-1-1"},
            "reason": "Scheduled", "message": "x", "type": "Normal"}]
    evs = E.normalize_all(raw)
    assert E.events_of_lws(evs, "vllm") and not E.events_of_lws(evs, "vllm", others=["vllm-1"])


def test_quota_cause_from_the_golden_recording(core):
    pods = [p for p in items("pods-ev.json") if p["metadata"]["name"] in ("quota-1", "quota-1-2")]
    mine = [le for le in E.events_of_lws(E.normalize_all(core), "quota") if le.group == 1]
    cause = E.group_cause(pods=pods, missing=[1], leader_missing=False, events=mine)
    assert cause.reason == "FailedCreate" and cause.object == "StatefulSet/quota-1" and cause.count == 12
    assert cause.summary == "w1 cannot be created: exceeded quota pods (pods 5/5)"
    assert cause.blocking and cause.to_json()["since"] == "2026-11-25T15:15:35Z"
    # once quota-1-1 exists, the old FailedCreate is history, not a cause
    all_pods = [p for p in items("pods-ev.json") if p["metadata"]["name"].startswith("quota-1")]
    assert E.group_cause(pods=all_pods, missing=[], leader_missing=False, events=mine) is None


def test_scheduling_cause_only_while_unscheduled(core):
    pods = [p for p in items("pods-ev.json") if p["metadata"]["name"].startswith("unsched")]
    mine = E.events_of_lws(E.normalize_all(core), "unsched")
    cause = E.group_cause(pods=pods, missing=[], leader_missing=False, events=mine)
    assert cause.reason == "FailedScheduling" and cause.summary.startswith("leader unschedulable (0/71 nodes:")


def test_recreation_history_and_loops(core):
    mine = E.events_of_lws(E.normalize_all(core), "recreate")
    rec = E.recreations(mine, now=parse_time("2026-11-25T15:17:00Z"))
    assert rec[1].count == 2 and not rec[1].loop and 0 not in rec
    assert rec[1].last == parse_time("2026-11-25T15:16:19.546296Z")
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert E.is_loop([t, t + timedelta(minutes=4), t + timedelta(minutes=9)])
    assert not E.is_loop([t, t + timedelta(minutes=4), t + timedelta(minutes=11)])
    assert E.recreation_text(rec[1], now=parse_time("2026-11-25T15:17:00Z")) == "2 (40s ago)"


def test_aggregated_recreate_events_count_and_loop():
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    raw = {"metadata": {"uid": "r1", "name": "x.1"}, "regarding": {"kind": "LeaderWorkerSet", "name": "x"},
           "reason": "RecreateGroup", "note": "Worker pod x-2-1 failed, deleted leader pod x-2 to recreate group 2",
           "type": "Normal", "eventTime": "2026-01-01T11:55:00.000000Z",
           "series": {"count": 4, "lastObservedTime": "2026-01-01T11:58:00.000000Z"}}
    rec = E.recreations(E.events_of_lws(E.normalize_all([raw]), "x"), now=now)
    assert rec[2].count == 4 and rec[2].loop
    assert E.recreations(E.events_of_lws(E.normalize_all([raw]), "x"), now=now + timedelta(hours=1))[2].loop is False


def test_noise_selector_keeps_the_reasons_that_explain():
    sel = E.noise_field_selector()
    for reason in ("FailedCreate", "FailedScheduling", "RecreateGroup", "Unhealthy", "BackOff", "Failed"):
        assert f"reason!={reason}," not in sel + ","
    assert "reason!=Scheduled" in sel


def test_sandbox_events_have_the_golden_shape():
    """The sandbox's recorders write the keys the real ones do (core/v1 and events.k8s.io/v1 views)."""
    from kubectl_lws.sandbox.apiserver import core_event_to_v1
    from kubectl_lws.sandbox.controllers import events as rec

    class Store:
        def __init__(self):
            self.made = []

        def create(self, resource, obj):
            obj = dict(obj, metadata=dict(obj["metadata"], uid="u", resourceVersion="1",
                                          creationTimestamp="2026-01-01T00:00:00Z"))
            self.made.append(obj)
            return obj

    store = Store()
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "q-1", "namespace": "ev", "uid": "s"}}
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "q", "namespace": "ev", "uid": "l"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q-1", "namespace": "ev", "uid": "p"}}
    rec.emit(store, sts, "FailedCreate", "m", type_="Warning", component="statefulset-controller", legacy=True)
    rec.emit(store, lws, "RecreateGroup", "m", action="Delete", related=pod)
    golden = {e["reason"]: e for e in items("core-v1-events-ev.json")}
    golden_v1 = {e["reason"]: e for e in items("events-k8s-io-v1-events-ev.json")}
    for made, reason in zip(store.made, ("FailedCreate", "RecreateGroup")):
        want = set(golden[reason]) - {"kind", "apiVersion"}
        assert set(made) - {"kind", "apiVersion"} == want, reason
        assert set(core_event_to_v1(made)) - {"kind", "apiVersion"} == set(golden_v1[reason]) - {"kind", "apiVersion"}


def _pod(name: str, uid: str, worker: int, **status) -> dict:
    return {"metadata": {"name": name, "uid": uid, "labels": {"leaderworkerset.sigs.k8s.io/worker-index": str(worker)}},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running", **status}}


def _ev(uid: str, kind: str, name: str, reason: str, message: str, obj_uid: str | None = None) -> dict:
    return {"metadata": {"uid": uid, "name": f"{name}.{uid}"},
            "involvedObject": {"kind": kind, "name": name, **({"uid": obj_uid} if obj_uid else {})},
            "reason": reason, "message": message, "type": "Warning", "count": 2,
            "firstTimestamp": "2026-11-25T15:00:00Z", "lastTimestamp": "2026-11-25T15:05:00Z"}


def test_cause_priority_and_incarnations():
    pods = [_pod("x-1", "L", 0), _pod("x-1-1", "W1", 1), _pod("x-1-2", "W2", 2, containerStatuses=[
        {"name": "main", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-25T15:04:00Z"}}}])]
    raw = [_ev("1", "Pod", "x-1-1", "Unhealthy", "Readiness probe failed: 503", "W1"),
           _ev("2", "Pod", "x-1-2", "FailedMount", "MountVolume.SetUp failed for volume \"models\"", "W2"),
           _ev("3", "Pod", "x-1", "Evicted", "The node was low on resource: memory.", "OLD-LEADER")]
    les = [le for le in E.events_of_lws(E.normalize_all(raw), "x") if le.group == 1]
    c = E.group_cause(pods=pods, missing=[], leader_missing=False, events=les)
    # the eviction was of an earlier leader (another uid): FailedMount ranks above OOMKilled and Unhealthy
    assert c.reason == "FailedMount" and c.object == "Pod/x-1-2" and c.summary.startswith("w2 FailedMount")
    c = E.group_cause(pods=pods, missing=[], leader_missing=False, events=[les[0]])
    assert c.reason == "OOMKilled" and c.summary == "w2 CrashLoopBackOff: OOMKilled (4 restarts)"
    assert "exit code 137" in c.message
    c = E.group_cause(pods=pods[:2], missing=[], leader_missing=False, events=[les[0]])
    assert c.reason == "Unhealthy" and not c.blocking


def test_webhook_denial_summary():
    raw = [_ev("1", "StatefulSet", "x", "FailedCreate",
               'create Pod x-2 in StatefulSet x failed error: admission webhook "p.example.com" denied the request: no')]
    les = E.events_of_lws(E.normalize_all(raw), "x")
    assert (les[0].group, les[0].worker) == (2, 0)
    c = E.group_cause(pods=[], missing=[0, 1], leader_missing=True, events=les)
    assert c.summary == 'leader cannot be created: admission webhook "p.example.com" denied the request: no'


def test_one_restart_is_singular():
    pods = [_pod("x-1", "L", 0), _pod("x-1-1", "W1", 1, containerStatuses=[
        {"name": "main", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-25T15:04:00Z"}}}])]
    c = E.group_cause(pods=pods, missing=[], leader_missing=False, events=[])
    assert c is not None and c.summary.endswith("(1 restart)"), c.summary
