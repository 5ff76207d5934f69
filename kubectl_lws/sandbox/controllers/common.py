"""Helpers shared by the LWS controllers: revision keys, templates, group state, intstr maths."""
from __future__ import annotations

import copy
from typing import Any

from .. import webhooks as wh
from .statefulset import CR, STS, pod_ready

LWS = wh.LWS_RESOURCE


def revision_spec(lws: dict) -> dict:
    spec = lws.get("spec") or {}
    return {"leaderWorkerTemplate": copy.deepcopy(spec.get("leaderWorkerTemplate") or {}),
            "networkConfig": copy.deepcopy(spec.get("networkConfig") or {"subdomainPolicy": "Shared"})}


def revision_key(lws: dict) -> str:
    """Deterministic over leaderWorkerTemplate + networkConfig only (reference §8.3, §9)."""
    return wh.safe_hash(revision_spec(lws))


def revision_data(rspec: dict) -> dict:
    return {"spec": {"leaderWorkerTemplate": {"$patch": "replace", **rspec["leaderWorkerTemplate"]},
                     "networkConfig": {"$patch": "replace", **rspec["networkConfig"]}}}


def spec_from_revision(cr: dict) -> dict:
    data = copy.deepcopy((cr.get("data") or {}).get("spec") or {})
    for k in ("leaderWorkerTemplate", "networkConfig"):
        (data.get(k) or {}).pop("$patch", None)
    return data


def intstr(v: Any, total: int, round_up: bool) -> int:
    if isinstance(v, str) and v.endswith("%"):
        q, r = divmod(int(v[:-1]) * total, 100)
        return q + (1 if round_up and r else 0)
    return int(v or 0)


def rollout_params(lws: dict) -> tuple[int, int, int, int]:
    """(replicas, partition, maxUnavailable, maxSurge) with percents resolved against replicas."""
    spec = lws["spec"]
    r = int(spec.get("replicas", 1))
    ruc = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
    mu = intstr(ruc.get("maxUnavailable", 1), r, False)
    ms = min(intstr(ruc.get("maxSurge", 0), r, True), r)
    return r, int(ruc.get("partition", 0) or 0), mu, ms


CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
POD_TEMPLATE_DEFAULTS = {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "securityContext": {}, "schedulerName": "default-scheduler"}


def default_pod_spec(spec: dict) -> dict:
    """The apiserver's pod-template defaults (what golden StatefulSet templates show)."""
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for k, v in CONTAINER_DEFAULTS.items():
            c.setdefault(k, v)
        if "imagePullPolicy" not in c:
            image = c.get("image", "")
            tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
            c["imagePullPolicy"] = "IfNotPresent" if tagged and not image.endswith(":latest") else "Always"
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")
    for k, v in POD_TEMPLATE_DEFAULTS.items():
        spec.setdefault(k, copy.deepcopy(v))
    return spec


def lws_pod_annotations(lws: dict, size: int, lwt: dict, network: dict, leader: bool) -> dict:
    """LWS annotations that reach pods via the STS templates (reference §5)."""
    ann = lws["metadata"].get("annotations") or {}
    out = {wh.SIZE: str(size)}
    if wh.EXCLUSIVE in ann:
        out[wh.EXCLUSIVE] = ann[wh.EXCLUSIVE]
    sgp = lwt.get("subGroupPolicy")
    if isinstance(sgp, dict) and sgp.get("subGroupSize") is not None:
        out[wh.SUBGROUP_SIZE] = str(sgp["subGroupSize"])
        out[wh.SUBGROUP_POLICY_TYPE] = sgp.get("subGroupPolicyType") or "LeaderWorker"
        if wh.SUBGROUP_EXCLUSIVE in ann:
            out[wh.SUBGROUP_EXCLUSIVE] = ann[wh.SUBGROUP_EXCLUSIVE]
    if leader and (network or {}).get("subdomainPolicy") == "UniquePerReplica":
        out[wh.SUBDOMAIN_POLICY] = "UniquePerReplica"
    return out


def claim_templates(lws: dict) -> dict:
    """``volumeClaimTemplates`` and its retention policy as both StatefulSets get them (reference §2), or {}."""
    lwt = (lws.get("spec") or {}).get("leaderWorkerTemplate") or {}
    out: dict = {}
    if lwt.get("volumeClaimTemplates"):
        out["volumeClaimTemplates"] = copy.deepcopy(lwt["volumeClaimTemplates"])
        if lwt.get("persistentVolumeClaimRetentionPolicy"):
            out["persistentVolumeClaimRetentionPolicy"] = copy.deepcopy(lwt["persistentVolumeClaimRetentionPolicy"])
    return out


class GroupView:
    """Read-only view of group i of an LWS: leader pod, worker STS, updated/ready per reference §8.1."""

    def __init__(self, store: Any, ns: str, lws_name: str, i: int, key: str):
        self.i = i
        self.leader = store.get("pods", ns, f"{lws_name}-{i}")
        self.wsts = store.get(STS, ns, f"{lws_name}-{i}")
        lead = self.leader
        if lead is not None and lead["metadata"].get("deletionTimestamp"):
            lead = None
        self.alive = lead is not None
        size = int(((lead or {}).get("metadata", {}).get("annotations") or {}).get(wh.SIZE, "1"))
        ws = self.wsts if (self.wsts is not None and lead is not None and any(
            r.get("uid") == lead["metadata"]["uid"] for r in self.wsts["metadata"].get("ownerReferences") or [])) \
            else None
        if lead is None:
            self.updated = self.ready = False
            return
        self.updated = lead["metadata"]["labels"].get(wh.REVISION) == key and (
            size == 1 or (ws is not None and ws["metadata"]["labels"].get(wh.REVISION) == key))
        if size == 1:
            self.ready = pod_ready(lead)
        else:
            st = (ws or {}).get("status") or {}
            self.ready = pod_ready(lead) and ws is not None and \
                int(ws["spec"].get("replicas", 0)) == int(st.get("availableReplicas", 0)) and \
                st.get("currentRevision") == st.get("updateRevision") and bool(st.get("updateRevision"))


__all__ = ["LWS", "STS", "CR", "claim_templates", "revision_key", "revision_spec", "revision_data", "spec_from_revision",
           "rollout_params", "default_pod_spec", "lws_pod_annotations", "GroupView", "intstr"]
