"""Objects the sandbox controllers build for the golden LWS inputs, compared with the real cluster's dumps
(tests/data/golden/objects/<n>/*.json) after normalising server-assigned and placement-dependent fields."""
from __future__ import annotations

import copy
import json
import re

import pytest

import golden

from kubectl_lws.sandbox import webhooks as wh
from conftest import scenario_sandbox

GOLDEN = f"{golden.GOLDEN}/objects"
NAMES = ["basic", "excl", "subg", "uniq", "single"]
TOPOLOGY = ("topology.kubernetes.io/zone", "topology.kubernetes.io/region")


@pytest.fixture(scope="module")
def sb():
    with scenario_sandbox("golden") as s:
        yield s


def _list(sb, resource, name):
    return sb.call(lambda: copy.deepcopy(sb.store.list(resource, "golden", label_selector=f"{wh.NAME}={name}")))


def _golden(name, what):
    return json.load(open(f"{GOLDEN}/{name}/{what}.json"))["items"]


def _norm_labels(labels: dict | None) -> dict:
    out = {}
    for k, v in (labels or {}).items():
        if k in TOPOLOGY:
            continue  # copied from whichever node the pod landed on
        if k == wh.REVISION:
            v = "<rev>"
        elif k in ("controller-revision-hash", "controller.kubernetes.io/hash"):
            v = re.sub(r"[a-z0-9]+$", "<h>", v)
        out[k] = v
    return out


def _owner(obj):
    return [(r["kind"], r["name"], r.get("controller"), r.get("blockOwnerDeletion"))
            for r in obj["metadata"].get("ownerReferences") or []]


def _pod_view(p: dict) -> dict:
    spec = p["spec"]
    return {
        "labels": _norm_labels(p["metadata"].get("labels")),
        "annotations": p["metadata"].get("annotations") or {},
        "generation": p["metadata"].get("generation"),  # binding is a subresource write: no bump
        "owner": _owner(p),
        "hostname": spec.get("hostname"), "subdomain": spec.get("subdomain"),
        "affinity": spec.get("affinity"), "nodeSelector": spec.get("nodeSelector"),
        "containers": [(c["name"], c.get("image"), c.get("env"), c.get("ports"), c.get("resources"))
                       for c in spec.get("containers") or []],
        "phase": p["status"].get("phase"),
        "ready": [c["status"] for c in p["status"].get("conditions") or [] if c["type"] == "Ready"],
    }


@pytest.mark.parametrize("name", NAMES)
def test_pods_match_golden(sb, name):
    ours = {p["metadata"]["name"]: _pod_view(p) for p in _list(sb, "pods", name)}
    gold = {p["metadata"]["name"]: _pod_view(p) for p in _golden(name, "pods")}
    assert sorted(ours) == sorted(gold)
    for pod in gold:
        assert ours[pod] == gold[pod], pod


def _sts_view(s: dict) -> dict:
    spec = copy.deepcopy(s["spec"])
    spec["template"]["metadata"]["labels"] = _norm_labels(spec["template"]["metadata"].get("labels"))
    st = s.get("status") or {}
    return {"labels": _norm_labels(s["metadata"].get("labels")), "annotations": s["metadata"].get("annotations"),
            "owner": _owner(s), "spec": spec,
            "status": {k: st.get(k) for k in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")},
            "revisions_equal": st.get("currentRevision") == st.get("updateRevision")}


@pytest.mark.parametrize("name", NAMES)
def test_statefulsets_match_golden(sb, name):
    ours = {s["metadata"]["name"]: _sts_view(s) for s in _list(sb, "statefulsets.apps", name)}
    gold = {s["metadata"]["name"]: _sts_view(s) for s in _golden(name, "statefulsets")}
    assert sorted(ours) == sorted(gold)
    for sts in gold:
        assert ours[sts] == gold[sts], sts


@pytest.mark.parametrize("name", NAMES)
def test_services_match_golden(sb, name):
    def view(s):
        return {"labels": s["metadata"].get("labels"), "owner": _owner(s), "spec": s["spec"]}
    ours = {s["metadata"]["name"]: view(s) for s in _list(sb, "services", name)}
    gold = {s["metadata"]["name"]: view(s) for s in _golden(name, "services")}
    assert ours == gold


@pytest.mark.parametrize("name", NAMES)
def test_lws_controller_revision_matches_golden(sb, name):
    ours = [c for c in _list(sb, "controllerrevisions.apps", name)
            if any(r["kind"] == "LeaderWorkerSet" for r in c["metadata"]["ownerReferences"])]
    gold = [c for c in _golden(name, "controllerrevisions")
            if any(r["kind"] == "LeaderWorkerSet" for r in c["metadata"]["ownerReferences"])]
    assert len(ours) == len(gold) == 1
    o, g = ours[0], gold[0]
    key = o["metadata"]["labels"][wh.REVISION]
    assert o["metadata"]["name"] == f"{name}-{key}-1" and o["revision"] == g["revision"] == 1
    assert _norm_labels(o["metadata"]["labels"]) == _norm_labels(g["metadata"]["labels"])
    assert o["data"] == g["data"]
    # D1: the StatefulSet controller's own revisions also match the LWS label selector
    sts_revs = [c for c in _list(sb, "controllerrevisions.apps", name) if c not in ours]
    assert len(sts_revs) == len(_golden(name, "controllerrevisions")) - 1


@pytest.mark.parametrize("name", NAMES)
def test_lws_status_matches_golden(sb, name):
    ours = sb.get(wh.LWS_RESOURCE, "golden", name)
    gold = json.load(open(f"{GOLDEN}/{name}/leaderworkerset.json"))

    def view(lws):
        st = lws["status"]
        return {k: st.get(k) for k in ("replicas", "readyReplicas", "updatedReplicas", "hpaPodSelector",
                                       "observedGeneration")} | {
            "conditions": [(c["type"], c["status"], c["reason"], c["message"], c["observedGeneration"])
                           for c in st["conditions"]], "spec": lws["spec"]}
    assert view(ours) == view(gold)


def test_revision_key_is_deterministic_and_in_pod_labels(sb):
    lws = sb.get(wh.LWS_RESOURCE, "golden", "basic")
    from kubectl_lws.sandbox.controllers.common import revision_key
    key = revision_key(lws)
    assert len(key) <= 10
    assert {p["metadata"]["labels"][wh.REVISION] for p in _list(sb, "pods", "basic")} == {key}


def test_creation_events(sb):
    evs = sb.call(lambda: copy.deepcopy(sb.store.list("events", "golden")))
    evs.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
    mine = [(e["reason"], e["message"]) for e in evs
            if e["involvedObject"].get("kind") == "LeaderWorkerSet" and e["involvedObject"]["name"] == "basic"]
    assert mine[0][0] == "CreatingRevision" and mine[0][1].endswith("for a newly created LeaderWorkerSet")
    for expected in [("GroupsProgressing", "Created leader statefulset basic"),
                     ("GroupsProgressing", "Replicas are progressing, with 0 groups ready of total 3 groups"),
                     ("GroupsProgressing", "Created worker statefulset for leader pod basic-2"),
                     ("AllGroupsReady", "All replicas are ready, with 3 groups ready of total 3 groups")]:
        assert expected in mine
    ev = next(e for e in evs if e["reason"] == "AllGroupsReady")
    assert ev["reportingComponent"] == "leaderworkerset" and ev["source"] == {} and ev["eventTime"]
