"""The sandbox's DisaggregatedSet controller against the recording of a real one (golden README section F):
the recorded story replayed (create, two rollouts, a stalled one and its revert, replicas and slices), step
order per slice compared with the traces, objects with the dumps; External scaling (F4), the events recorder
(F.7), the status switch, placement, deletion and the demo's two sets."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from conftest import scenario_sandbox, start_sandbox
from golden import GOLDEN, golden_nodes
from kubectl_lws.model import keys
from kubectl_lws.sandbox.controllers import dsplan

DS = f"{keys.DS_PLURAL}.{keys.DS_GROUP}"
DSRS = f"{keys.DSRS_PLURAL}.{keys.DS_GROUP}"
LWS = f"{keys.LWS_PLURAL}.{keys.LWS_GROUP}"
NS = "golden-ds"
SAMPLE = "disaggregatedset-sample"
OBJECTS = GOLDEN / "ds/objects"


def _items(path: str) -> list[dict]:
    data = json.loads((OBJECTS / path).read_text())
    return data.get("items", [data])


def _recorded_spec(dump: str) -> dict:
    return _items(f"{dump}/disaggregatedset.json")[0]["spec"]


def _nodes() -> list[dict]:
    """The recording's nodes (6 with 8 GPUs) as full Node objects for a scenario."""
    out = []
    for n in golden_nodes():
        node = {"metadata": {"name": n["metadata"]["name"], "labels": n["metadata"].get("labels") or {}},
                "status": {"capacity": dict(n["status"]["capacity"])}}
        out.append(node)
    return out


def _api(sb, method: str, path: str, body: Any = None, ctype: str = "application/merge-patch+json") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sb.url + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {sb.admin_token}", "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read().decode()}") from None


def _ds_path(name: str = "", sub: str = "") -> str:
    base = f"/apis/{keys.DS_GROUP}/v1/namespaces/{NS}/disaggregatedsets"
    return base + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


class SpecLog:
    """Every spec.replicas change of the namespace's child LWS (and their ADDED/DELETED), per slice, taken
    from the store's change feed on the loop thread: the same view as the golden tracer's LWS lines."""

    def __init__(self, sb):
        self.sb = sb
        self.steps: dict[str, list[tuple]] = {}
        self._last: dict[str, int] = {}
        self._unsub = sb.call(lambda: sb.store.subscribe(self._feed))

    def _feed(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:
        if resource != LWS or obj["metadata"].get("namespace") != NS:
            return
        labels = obj["metadata"].get("labels") or {}
        name, slice_ = obj["metadata"]["name"], labels.get(keys.DS_SLICE_LABEL)
        if type_ == "DELETED":
            self.steps.setdefault(slice_, []).append(("DEL", name))
            self._last.pop(name, None)
            return
        replicas = obj["spec"].get("replicas")
        if type_ == "ADDED" or self._last.get(name) != replicas:
            self.steps.setdefault(slice_, []).append(("ADD" if type_ == "ADDED" else "MOD", name, replicas))
        self._last[name] = replicas

    def take(self) -> dict[str, list[tuple]]:
        out = {s: _sorted_deletes(v) for s, v in self.steps.items()}
        self.steps = {}
        return out

    def close(self) -> None:
        self.sb.call(self._unsub)


def _sorted_deletes(seq: list[tuple]) -> list[tuple]:
    """Runs of deletions in name order: the real controller deletes a drained revision's LWS in Go map order."""
    out: list[tuple] = []
    run: list[tuple] = []
    for step in seq + [("END",)]:
        if step[0] == "DEL":
            run.append(step)
            continue
        out += sorted(run)
        run = []
        if step[0] != "END":
            out.append(step)
    return out


def golden_steps(trace: str) -> dict[str, list[tuple]]:
    """The same per-slice sequence from a golden trace (seeded with the LWS its first State line lists)."""
    last: dict[str, int] = {}
    steps: dict[str, list[tuple]] = {}
    for line in (GOLDEN / f"ds/traces/{trace}.ndjson").read_text().splitlines():
        d = json.loads(line)
        if d.get("kind") == "State" and not last:
            for entry in d["state"]["lws"]:
                name, *fields = entry.split()
                last[name] = int(dict(f.split("=", 1) for f in fields)["spec"])
            continue
        if d.get("kind") != "LeaderWorkerSet" or not d["name"].startswith(SAMPLE):
            continue
        name, slice_ = d["name"], str(d["slice"])
        if d["type"] == "DELETED":
            steps.setdefault(slice_, []).append(("DEL", name))
            last.pop(name, None)
        elif d["type"] == "ADDED" or last.get(name) != d["specReplicas"]:
            steps.setdefault(slice_, []).append(("ADD" if d["type"] == "ADDED" else "MOD", name, d["specReplicas"]))
            last[name] = d["specReplicas"]
    return {s: _sorted_deletes(v) for s, v in steps.items()}


def _children(sb, ds: str = SAMPLE) -> list[tuple]:
    lws = sb.call(lambda: copy.deepcopy(sb.store.list(LWS, NS, label_selector={keys.DS_NAME_LABEL: ds})))
    return sorted((o["metadata"]["name"], o["spec"]["replicas"], (o.get("status") or {}).get("readyReplicas"),
                   (o["metadata"].get("annotations") or {}).get(keys.DS_INITIAL_REPLICAS_ANNOTATION)) for o in lws)


def _recorded_children(dump: str) -> list[tuple]:
    return sorted((o["metadata"]["name"], o["spec"]["replicas"], (o.get("status") or {}).get("readyReplicas"),
                   (o["metadata"].get("annotations") or {}).get(keys.DS_INITIAL_REPLICAS_ANNOTATION))
                  for o in _items(f"{dump}/leaderworkersets.json"))


def _services(sb, prefix: str = SAMPLE) -> list[str]:
    return sorted(s["metadata"]["name"] for s in sb.call(lambda: sb.store.list("services", NS))
                  if s["metadata"]["name"].startswith(prefix))


def _recorded_services(dump: str, prefix: str = SAMPLE) -> list[str]:
    return sorted(s["metadata"]["name"] for s in _items(f"{dump}/services.json")
                  if s["metadata"]["name"].startswith(prefix))


def _ds_events(sb, ds: str = SAMPLE) -> list[dict]:
    return [e for e in sb.call(lambda: copy.deepcopy(sb.store.list("events", NS)))
            if e["involvedObject"]["kind"] == keys.DS_KIND and e["involvedObject"]["name"] == ds]


def _strip(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        meta.pop(k, None)
    for ref in meta.get("ownerReferences") or []:
        ref.pop("uid", None)
    obj.pop("status", None)
    return obj


@pytest.fixture(scope="module")
def story() -> Iterator:
    """A sandbox with the recording's nodes, the sample set created as in F1 (speed 20)."""
    sb = start_sandbox()
    try:
        sb.load_scenario({"nodes": _nodes(), "namespaces": [NS]})
        sb.wait_settled(60)
        log = SpecLog(sb)
        _api(sb, "POST", _ds_path(), {"apiVersion": f"{keys.DS_GROUP}/v1", "kind": keys.DS_KIND,
                                      "metadata": {"name": SAMPLE}, "spec": _recorded_spec("f1-sample-settled")},
             "application/json")
        sb.wait_settled(60)
        yield sb, log
        log.close()
    finally:
        sb.stop()


def _patch_spec(sb, dump: str) -> None:
    _api(sb, "PATCH", _ds_path(SAMPLE), {"spec": _recorded_spec(dump)})


# ------------------------------------------------------------------------------------ the story (F1-F6)
def test_f1_static_set_children_and_services(story) -> None:
    sb, log = story
    assert log.take() == golden_steps("f1-create-sample")
    assert _children(sb) == _recorded_children("f1-sample-settled")
    assert _services(sb) == _recorded_services("f1-sample-settled")
    ds = sb.get(DS, NS, SAMPLE)
    assert "status" not in ds and not ds["metadata"].get("finalizers")  # v0.10.0 never writes it
    for recorded in _items("f1-sample-settled/leaderworkersets.json"):
        ours = sb.get(LWS, NS, recorded["metadata"]["name"])
        assert _strip(ours) == _strip(recorded)
    prv = {s["metadata"]["name"]: s for s in _items("f1-sample-settled/services.json")}
    for name, recorded in prv.items():
        ours = sb.get("services", NS, name)
        assert ours is not None, name
        assert _strip(ours)["metadata"] == _strip(recorded)["metadata"], name
        assert {k: v for k, v in ours["spec"].items() if k != "clusterIPs"} == \
            {k: v for k, v in recorded["spec"].items() if k != "clusterIPs"}, name
    sts = {s["metadata"]["name"]: s for s in _items("f1-sample-settled/statefulsets.json")}
    for name, recorded in sts.items():  # the LWS controller's own revision hash is not Go's (webhooks.py)
        assert {k: v for k, v in sb.get("statefulsets.apps", NS, name)["metadata"]["labels"].items()
                if k != keys.REVISION_LABEL} == \
            {k: v for k, v in recorded["metadata"]["labels"].items() if k != keys.REVISION_LABEL}
    for pod in _items("f1-sample-settled/pods.json"):
        labels = sb.get("pods", NS, pod["metadata"]["name"])["metadata"]["labels"]
        ds_labels = {k: v for k, v in pod["metadata"]["labels"].items() if k.startswith(keys.DS_GROUP) or k == "app"}
        assert ds_labels.items() <= labels.items()
    assert _ds_events(sb) == []  # the simple path records nothing (F.1)


@pytest.mark.parametrize("dump,trace", [("f2a-rollout-end", "f2a-rollout-decode-image"),
                                        ("f2b-rollout-end", "f2b-rollout-per-role-surge")])
def test_f2_rollout_steps_and_end_state(story, dump: str, trace: str) -> None:
    """F2a (default maxSurge 1) then F2b (prefill maxUnavailable 1, decode maxSurge 2), in this order."""
    sb, log = story
    _patch_spec(sb, dump)
    sb.wait_settled(60)
    assert log.take() == golden_steps(trace)
    assert _children(sb) == _recorded_children(dump)
    assert _services(sb) == _recorded_services(dump)
    assert "status" not in sb.get(DS, NS, SAMPLE)


def test_f3_stall_says_nothing_and_the_revert_recovers(story) -> None:
    sb, log = story
    before = {(e["reason"], e["metadata"]["name"]) for e in _ds_events(sb)}
    _patch_spec(sb, "f3-stalled-60s")
    sb.wait_settled(60)
    assert _children(sb) == _recorded_children("f3-stalled-60s")
    assert _services(sb) == _recorded_services("f3-stalled-60s")
    leader = sb.get("pods", NS, f"{SAMPLE}-0-b890c4a6-decode-0")
    cond = next(c for c in leader["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (leader["status"]["phase"], cond["status"], cond["reason"]) == ("Pending", "False", "Unschedulable")
    new = [(e["reason"], e["message"]) for e in _ds_events(sb) if (e["reason"], e["metadata"]["name"]) not in before]
    assert [r for r, _ in new] == ["RollingUpdateStarted", "ScalingDown", "ScalingUp"]  # then nothing
    stalled = sb.get(DS, NS, SAMPLE)
    time.sleep(1.0)  # a stalled rollout stays as it is: no step, no event, no status
    assert _children(sb) == _recorded_children("f3-stalled-60s")
    assert len(_ds_events(sb)) == len(before) + 3 and sb.get(DS, NS, SAMPLE) == stalled
    _patch_spec(sb, "f3-recovered")
    sb.wait_settled(60)
    assert log.take() == golden_steps("f3-stalled-rollout-gpu100-and-revert")
    assert _children(sb) == _recorded_children("f3-recovered")  # the old revision kept initial-replicas
    assert _services(sb) == _recorded_services("f3-recovered")
    reasons = [e["reason"] for e in _ds_events(sb)]
    assert reasons.count("RollingUpdateStarted") == 3  # no new one for the revert
    assert "RollingUpdateCompleted" not in reasons


def test_f6_replicas_and_slices(story) -> None:
    sb, log = story
    before = len(_ds_events(sb))
    for dump in ("f6-prefill-replicas-3", "f6-slices-3"):
        _patch_spec(sb, dump)
        sb.wait_settled(60)
        assert _children(sb) == _recorded_children(dump)
        assert _services(sb) == _recorded_services(dump)
    assert len(_ds_events(sb)) == before  # replicas and added slices: no event
    _patch_spec(sb, "f6-slices-1")
    sb.wait_settled(60)
    assert log.take() == golden_steps("f6-scale-replicas-and-slices")
    assert _children(sb) == _recorded_children("f6-slices-1")
    assert _services(sb) == _recorded_services("f6-slices-1")
    removed = [e for e in _ds_events(sb)[before:]]
    assert [(e["reason"], e["action"]) for e in removed] == [("LWSDeleted", "Delete")]
    assert removed[0]["message"] in (f"Deleted LWS {SAMPLE}-1-c96cd1c8-{role} for removed slice 1"
                                     for role in ("prefill", "decode"))  # the real one lists in cache order


def test_f7_one_event_per_reason_per_generation(story) -> None:
    """After the whole story the set's events are the recorded ones: same reasons and notes, one Event per
    reason per set version (regarding.resourceVersion), series set and count unset in core/v1."""
    sb, _ = story
    ours = _ds_events(sb)
    recorded = _items("final-events/events-core-v1-disaggregatedset.json")
    recorded = [e for e in recorded if e["involvedObject"]["name"] == SAMPLE]

    def shape(events: list[dict]) -> list[tuple]:
        versions: dict[str, int] = {}
        out = []
        for e in events:
            group = versions.setdefault(e["involvedObject"]["resourceVersion"], len(versions))
            note = e["message"].replace("-decode", "-<role>").replace("-prefill", "-<role>") \
                if e["reason"] == "LWSDeleted" else e["message"]
            out.append((group, e["reason"], note, e["action"], e["reportingComponent"], e["type"]))
        return out
    assert shape(ours) == shape(recorded)
    for e in ours:
        assert e.get("count") is None and e["source"] == {} and e["firstTimestamp"] is None
        assert e["series"]["count"] == 2 if e["reason"] != "ScalerCreated" else "series" not in e
    v1 = _api(sb, "GET", f"/apis/events.k8s.io/v1/namespaces/{NS}/events?fieldSelector=regarding.kind%3D"
                         f"{keys.DS_KIND}")["items"]
    assert {e["reportingController"] for e in v1} == {"disaggregatedset"}
    assert [e["note"] for e in v1] == [e["message"] for e in ours]
    recorded_v1 = [e for e in _items("final-events/events-events.k8s.io-v1.json")
                   if e["regarding"]["kind"] == keys.DS_KIND and e["reason"] == v1[0]["reason"]]
    assert list(v1[0]) == list(recorded_v1[0])


# --------------------------------------------------------------------------------- series count later
def test_series_count_is_written_when_the_series_finishes() -> None:
    """count 2 as soon as the second occurrence comes, the real count only once the series went quiet."""
    sb = start_sandbox(speed=20)
    try:
        sb.load_scenario({"nodes": _nodes(), "namespaces": [NS]})
        sb.controllers.disaggregatedset.recorder.finish_after = 4.0
        _api(sb, "POST", _ds_path(), {"apiVersion": f"{keys.DS_GROUP}/v1", "kind": keys.DS_KIND,
                                      "metadata": {"name": SAMPLE}, "spec": _recorded_spec("f1-sample-settled")},
             "application/json")
        sb.wait_settled(60)
        _patch_spec(sb, "f2a-rollout-end")
        sb.wait_settled(60)
        early = {e["reason"]: e.get("series", {}).get("count") for e in _ds_events(sb)}
        assert early == {"RollingUpdateStarted": 2, "ScalingUp": 2, "ScalingDown": 2, "LWSDeleted": 2}
        # two slices: 2 starts, 4 scale-ups and 4 scale-downs each, 2 drained LWS each (golden: 2, 10, 8, 4;
        # its 10 scale-ups include repeats from the real controller's stale cache)
        expected = {"RollingUpdateStarted": 2, "ScalingUp": 8, "ScalingDown": 8, "LWSDeleted": 4}
        deadline = time.monotonic() + 40
        final: dict = {}
        while time.monotonic() < deadline and final != expected:
            time.sleep(0.2)
            final = {e["reason"]: e["series"]["count"] for e in _ds_events(sb)}
        assert final == expected
        assert len(_ds_events(sb)) == 4
    finally:
        sb.stop()


# ---------------------------------------------------------------------------------------- F4 External
def test_f4_external_role_scaler() -> None:
    sb = start_sandbox(speed=20)
    try:
        sb.load_scenario({"nodes": _nodes(), "namespaces": [NS]})
        import yaml
        doc = yaml.safe_load((GOLDEN / "ds/inputs/ds-ext.yaml").read_text())
        _api(sb, "POST", _ds_path(), doc, "application/json")
        sb.wait_settled(60)
        recorded = _items("f4-ds-ext-created/disaggregatedsetrolescalers.json")[0]
        scaler = sb.get(DSRS, NS, "ds-ext-decode")
        assert _strip(scaler) == _strip(recorded)  # seeded at 1, not the role's 3
        cond = scaler["status"]["conditions"][0]
        assert {k: v for k, v in scaler["status"].items() if k != "conditions"} == \
            {k: v for k, v in recorded["status"].items() if k != "conditions"}
        assert {k: v for k, v in cond.items() if k != "lastTransitionTime"} == \
            {k: v for k, v in recorded["status"]["conditions"][0].items() if k != "lastTransitionTime"}
        assert _children(sb, "ds-ext") == _recorded_children("f4-ds-ext-created")
        assert _services(sb, "ds-ext") == _recorded_services("f4-ds-ext-created", "ds-ext")
        scale_path = f"/apis/{keys.DS_GROUP}/v1/namespaces/{NS}/disaggregatedsetrolescalers/ds-ext-decode/scale"
        before = _api(sb, "GET", scale_path)
        recorded_scale = _items("f4-ds-ext-created/dsrs-decode-scale.json")[0]
        assert (before["spec"], before["status"]) == (recorded_scale["spec"], recorded_scale["status"])
        answer = _api(sb, "PATCH", scale_path, {"spec": {"replicas": 2}})
        assert answer["spec"] == {"replicas": 2} and answer["status"]["replicas"] == 1  # status follows later
        sb.wait_settled(60)
        assert _children(sb, "ds-ext") == _recorded_children("f4-ds-ext-after-scale-2")
        after = _items("f4-ds-ext-after-scale-2/disaggregatedsetrolescalers.json")[0]
        scaler = sb.get(DSRS, NS, "ds-ext-decode")
        assert scaler["metadata"]["generation"] == after["metadata"]["generation"] == 2
        assert {k: v for k, v in scaler["status"].items() if k != "conditions"} == \
            {k: v for k, v in after["status"].items() if k != "conditions"}
        gen = sb.get(DS, NS, "ds-ext")["metadata"]["generation"]
        _api(sb, "PATCH", _ds_path("ds-ext"), [{"op": "replace", "path": "/spec/roles/1/spec/replicas", "value": 5}],
             "application/json-patch+json")
        sb.wait_settled(60)
        assert sb.get(DS, NS, "ds-ext")["metadata"]["generation"] == gen + 1
        assert _children(sb, "ds-ext") == _recorded_children("f4-ds-ext-after-scale-2")  # ignored
        assert sb.get(DSRS, NS, "ds-ext-decode")["spec"] == {"replicas": 2}
        assert [(e["reason"], e["message"], e["action"]) for e in _ds_events(sb, "ds-ext")] == [
            ("ScalerCreated", "Created scaler ds-ext-decode for role decode", "Create")]
        # Static again: the scaler goes (ScalerDeleted); deleting the set removes everything it owns
        _api(sb, "PATCH", _ds_path("ds-ext"), [{"op": "remove", "path": "/spec/roles/1/scaling"}],
             "application/json-patch+json")
        sb.wait_settled(60)
        assert sb.get(DSRS, NS, "ds-ext-decode") is None
        assert _ds_events(sb, "ds-ext")[-1]["reason"] == "ScalerDeleted"
        assert dict((n, r) for n, r, *_ in _children(sb, "ds-ext"))["ds-ext-0-fde9fa21-decode"] == 5
        _api(sb, "DELETE", _ds_path("ds-ext"))
        sb.wait_settled(60)
        assert _children(sb, "ds-ext") == [] and _services(sb, "ds-ext") == []
    finally:
        sb.stop()


# ------------------------------------------------------------------------------------ written status
def test_written_status_as_lws_main() -> None:
    """ds-status=written: observedGeneration, roleStatuses in spec order, Available xor Progressing."""
    sb = start_sandbox(speed=20)
    try:
        sb.load_scenario({"nodes": _nodes(), "namespaces": [NS], "dsStatus": "written"})
        _api(sb, "POST", _ds_path(), {"apiVersion": f"{keys.DS_GROUP}/v1", "kind": keys.DS_KIND,
                                      "metadata": {"name": SAMPLE}, "spec": _recorded_spec("f1-sample-settled")},
             "application/json")
        sb.wait_settled(60)
        st = sb.get(DS, NS, SAMPLE)["status"]
        assert st["observedGeneration"] == 1
        assert st["roleStatuses"] == [{"name": "prefill", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4},
                                      {"name": "decode", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4}]
        assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
            ("Progressing", "False", "AllRolesReady"), ("Available", "True", "AllRolesReady")]
        _patch_spec(sb, "f3-stalled-60s")  # cannot be scheduled: stays Progressing
        sb.wait_settled(60)
        st = sb.get(DS, NS, SAMPLE)["status"]
        conds = {c["type"]: c for c in st["conditions"]}
        assert (conds["Available"]["status"], conds["Progressing"]["status"]) == ("False", "True")
        assert conds["Available"]["reason"] == conds["Progressing"]["reason"] == "RolloutInProgress"
        assert st["observedGeneration"] == 2 == conds["Available"]["observedGeneration"]
        sb.fault("ds-status", mode="empty")  # as after a downgrade to v0.10.0: the last status stays
        _patch_spec(sb, "f3-recovered")
        sb.wait_settled(60)
        assert sb.get(DS, NS, SAMPLE)["status"]["observedGeneration"] == 2
        with pytest.raises(ValueError):
            sb.fault("ds-status", mode="sometimes")
    finally:
        sb.stop()


# ------------------------------------------------------------------------------------------ placement
def test_placement_policy_affinities_on_both_templates() -> None:
    sb = start_sandbox(plugins=("controllers", "lwssystem"), speed=20)
    try:
        sb.ensure_namespace(NS)
        spec = _recorded_spec("f1-sample-settled")
        spec["placementPolicy"] = {"type": "ExclusiveTopology", "topology": "example.com/rack"}
        _api(sb, "POST", _ds_path(), {"apiVersion": f"{keys.DS_GROUP}/v1", "kind": keys.DS_KIND,
                                      "metadata": {"name": SAMPLE}, "spec": spec}, "application/json")
        sb.wait_settled(60)
        lws = sb.get(LWS, NS, f"{SAMPLE}-1-f5319d59-decode")
        for tkey in ("leaderTemplate", "workerTemplate"):
            aff = lws["spec"]["leaderWorkerTemplate"][tkey]["spec"]["affinity"]
            together = aff["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            apart = aff["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert together == [{"labelSelector": {"matchExpressions": [
                {"key": keys.DS_NAME_LABEL, "operator": "In", "values": [SAMPLE]},
                {"key": keys.DS_SLICE_LABEL, "operator": "In", "values": ["1"]}]}, "topologyKey": "example.com/rack"}]
            assert [t["labelSelector"]["matchExpressions"][-1] for t in apart] == [
                {"key": keys.DS_SLICE_LABEL, "operator": "NotIn", "values": ["1"]},
                {"key": keys.DS_SLICE_LABEL, "operator": "Exists"}]
    finally:
        sb.stop()


# ---------------------------------------------------------------------------------------- pure parts
def test_revision_hash_is_upstreams_for_every_recorded_spec() -> None:
    expected = {"f1-sample-settled": "f5319d59", "f2a-rollout-end": "0fec0569", "f2b-rollout-end": "c96cd1c8",
                "f3-stalled-60s": "b890c4a6", "f3-recovered": "c96cd1c8", "f4-ds-ext-created": "fde9fa21"}
    for dump, rev in expected.items():
        assert dsplan.revision(_recorded_spec(dump)["roles"]) == rev, dump
    roles = _recorded_spec("f1-sample-settled")["roles"]
    changed = copy.deepcopy(roles)
    changed[0]["spec"]["replicas"] = 7  # replicas and rollout strategy are not part of the revision
    changed[1]["spec"]["rolloutStrategy"] = {"type": "RollingUpdate"}
    assert dsplan.revision(changed) == "f5319d59"


@pytest.mark.parametrize("source,target,budgets,steps", [
    # golden F2a: default maxSurge 1 on both roles
    ([2, 2], [2, 2], [(1, 0), (1, 0)], [([2, 2], [1, 1]), ([1, 1], [1, 1]), ([1, 1], [2, 2]), ([0, 0], [2, 2])]),
    # golden F2b: prefill maxUnavailable 1, decode maxSurge 2: prefill drains first, steps stay coordinated
    ([2, 2], [2, 2], [(0, 1), (2, 0)], [([1, 2], [0, 0]), ([1, 2], [1, 1]), ([1, 1], [1, 1]), ([0, 0], [2, 2])]),
    # a 5:2 set keeps its ratio and no role of the old revision reaches 0 before the others
    ([5, 2], [5, 2], [(1, 0), (1, 0)], None),
])
def test_planner_steps(source, target, budgets, steps) -> None:
    b = [dsplan.Budget(*x) for x in budgets]
    old, new = list(source), [0] * len(source)
    seen = []
    while (step := dsplan.plan_step(source, old, new, target, b)) is not None:
        changed_old, changed_new = step[0] != old, step[1] != new
        assert not (changed_old and changed_new) or step[0] == [0] * len(source)  # one side, or the final drain
        old, new = step
        assert all(o == 0 for o in old) or all(o > 0 for o in old)  # coordinated drain
        seen.append((old, new))
        assert len(seen) < 50
    assert (old, new) == ([0] * len(source), target)
    if steps is not None:
        assert seen == [(list(o), list(n)) for o, n in steps]


def test_drain_spreads_over_old_revisions_newest_first_and_zeroes_together() -> None:
    revisions = [{"p": ("b-p", 1), "d": ("b-d", 1)}, {"p": ("a-p", 2), "d": ("a-d", 2)}]
    assert dsplan.drain_plan(revisions, ["p", "d"], [3, 3], [1, 2]) == [
        ("b-p", "p", 1, 0), ("b-d", "d", 1, 0), ("a-p", "p", 2, 1)]


# ------------------------------------------------------------------------------------------- the demo
def test_demo_has_a_set_mid_rollout_and_a_stalled_one() -> None:
    with scenario_sandbox("demo", speed=50) as sb:
        lws = {o["metadata"]["name"]: o for o in sb.call(lambda: copy.deepcopy(sb.store.list(
            LWS, "pd", label_selector=keys.DS_NAME_LABEL)))}
        revs = {}
        for name, o in lws.items():
            labels = o["metadata"]["labels"]
            revs.setdefault(labels[keys.DS_NAME_LABEL], set()).add(labels[keys.DS_REVISION_LABEL])
        assert {k: len(v) for k, v in revs.items()} == {"pd-rolling": 2, "pd-stalled": 2}
        rolling = {n: (o["spec"]["replicas"], (o.get("status") or {}).get("readyReplicas", 0))
                   for n, o in lws.items() if n.startswith("pd-rolling")}
        new_decode = [n for n, o in lws.items() if n.startswith("pd-rolling") and n.endswith("-decode")
                      and not o["metadata"].get("annotations")]
        assert len(new_decode) == 2 and all(rolling[n] == (1, 0) for n in new_decode)  # warming up, Running
        pods = sb.call(lambda: sb.store.list("pods", "pd", label_selector={keys.DS_NAME_LABEL: "pd-rolling"}))
        assert {p["status"]["phase"] for p in pods} == {"Running"}
        stalled = [p for p in sb.call(lambda: sb.store.list("pods", "pd", label_selector={
            keys.DS_NAME_LABEL: "pd-stalled"})) if p["status"]["phase"] == "Pending"]
        assert stalled and all("Insufficient nvidia.com/gpu" in c.get("message", "") for p in stalled
                               for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
        reasons = [e["reason"] for e in sb.call(lambda: sb.store.list("events", "pd")) if
                   e["involvedObject"]["kind"] == keys.DS_KIND and e["involvedObject"]["name"] == "pd-stalled"]
        assert reasons == ["RollingUpdateStarted", "ScalingUp"] and "status" not in sb.get(DS, "pd", "pd-stalled")


# ------------------------------------------------------------------------------------------- kubectl
KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_apply_get_and_scale_a_role_scaler(tmp_path) -> None:
    """kubectl apply / get dsrs / scale dsrs / get lws -L as golden ds/kubectl/f4-* and end-* printed them."""
    sb = start_sandbox(speed=20)
    try:
        sb.load_scenario({"nodes": _nodes(), "namespaces": [NS]})
        kc = sb.write_kubeconfig(tmp_path / "kc", namespace=NS)

        def kubectl(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=30,
                                  env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})

        def recorded(case: str) -> list[list[str]]:
            return [ln.split()[:3] for ln in (GOLDEN / f"ds/kubectl/{case}.stdout").read_text().splitlines()]
        r = kubectl("apply", "-f", str(GOLDEN / "ds/inputs/ds-ext.yaml"))
        assert r.returncode == 0 and "Warning: role \"decode\" sets scaling.mode: External" in r.stderr
        sb.wait_settled(60)
        r = kubectl("get", "dsrs")
        assert [ln.split()[:3] for ln in r.stdout.splitlines()] == recorded("f4-get-dsrs")
        r = kubectl("get", "dsrs", "-o", "wide", "--show-labels")
        wide = (GOLDEN / "ds/kubectl/f4-get-dsrs-wide.stdout").read_text().splitlines()
        assert r.stdout.splitlines()[0].split() == wide[0].split()
        assert r.stdout.splitlines()[1].split()[-1] == wide[1].split()[-1]
        r = kubectl("scale", "dsrs/ds-ext-decode", "--replicas", "2")
        assert (r.returncode, r.stdout) == (0, (GOLDEN / "ds/kubectl/f4-scale-dsrs-replicas-2-v8.stdout").read_text())
        sb.wait_settled(60)
        r = kubectl("get", "dsrs")
        assert [ln.split()[:3] for ln in r.stdout.splitlines()] == recorded("f4-get-dsrs-after-scale")
        r = kubectl("get", "lws", "-L", f"{keys.DS_SLICE_LABEL},{keys.DS_ROLE_LABEL},{keys.DS_REVISION_LABEL}")
        end = (GOLDEN / "ds/kubectl/end-get-lws-n-golden-ds-L-disaggregatedset-x-k8s-io-slice-disaggregatedset-x-k8s-"
                        "io-role-disag.stdout").read_text().splitlines()
        ours = r.stdout.splitlines()
        assert ours[0].split() == end[0].split()
        rows = {ln.split()[0]: ln.split() for ln in ours[1:]}
        for ln in end[1:]:
            if ln.startswith("ds-ext"):
                cells = ln.split()
                assert rows[cells[0]][:4] + rows[cells[0]][5:] == cells[:4] + cells[5:]
        r = kubectl("get", "ds,dsrs")  # `ds` is DaemonSets in kubectl; the scalers follow
        assert r.returncode == 0 and "ds-ext-decode" in r.stdout, r.stderr
        r = kubectl("get", "disaggregatedsets", "-o", "wide")
        assert [ln.split()[0] for ln in r.stdout.splitlines()] == ["NAME", "ds-ext"]
    finally:
        sb.stop()
