"""Kueue's LWS and pod webhooks (golden G.1, G.5).

LWS: a queued LWS (label ``kueue.x-k8s.io/queue-name``) gets on both templates the pod-group-serving and
pod-suspending-parent annotations (the worker also ``pod-index-offset: "1"``) and the queue label; its
group size and queue label are then immutable, refused as Kueue refuses them, under the webhook name it
shares with LWS (``vleaderworkerset.kb.io``). Pods of such a template are created managed: labels,
the Workload's name in two annotations, and both scheduling gates, even on a queue without TAS.
"""
from __future__ import annotations

from typing import Any

from .. import webhooks as wh
from .kueue_common import (GATES, MANAGED_LABEL, POD_GROUP_NAME, PREBUILT_WORKLOAD_ANNOTATION, QUEUE_LABEL,
                           kueue_workload_name, queue_of)

SERVING = "kueue.x-k8s.io/pod-group-serving"
SUSPENDING_PARENT = "kueue.x-k8s.io/pod-suspending-parent"
INDEX_OFFSET = "kueue.x-k8s.io/pod-index-offset"
TOTAL_COUNT = "kueue.x-k8s.io/pod-group-total-count"
ROLE_HASH = "kueue.x-k8s.io/role-hash"
PARENT = "leaderworkerset.x-k8s.io/leaderworkerset"


def plugin(sandbox: Any):
    """The admission plugin (``sandbox.admission_plugins``) for one sandbox."""

    def admit(operation: str, resource: str, obj: dict, old: dict | None) -> dict:
        if resource == wh.LWS_RESOURCE and operation == "CREATE" and queue_of(obj):
            return _mutate_lws(obj)
        if resource == wh.LWS_RESOURCE and operation == "UPDATE" and queue_of(old):
            _validate_update(obj, old)
            return _mutate_lws(obj)
        if resource == "pods" and operation == "CREATE":
            return _mutate_pod(sandbox, obj)
        return obj
    return admit


def _mutate_lws(obj: dict) -> dict:
    queue = queue_of(obj)
    lwt = obj.setdefault("spec", {}).setdefault("leaderWorkerTemplate", {})
    has_leader = bool(lwt.get("leaderTemplate"))
    for key in ("leaderTemplate", "workerTemplate"):
        tpl = lwt.get(key)
        if tpl is None:
            continue
        meta = tpl.setdefault("metadata", {})
        ann = meta.setdefault("annotations", {})
        ann[SERVING] = "true"
        ann[SUSPENDING_PARENT] = PARENT
        if key == "workerTemplate" and has_leader:
            ann[INDEX_OFFSET] = "1"
        meta.setdefault("labels", {})[QUEUE_LABEL] = queue
    return obj


def _validate_update(obj: dict, old: dict) -> None:
    errs = []
    new_size = ((obj.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("size")
    old_size = ((old.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("size")
    if new_size != old_size:
        errs.append(f"spec.leaderWorkerTemplate.size: Invalid value: {new_size}: field is immutable")
    if queue_of(obj) != queue_of(old):
        errs.append(f'metadata.labels[{QUEUE_LABEL}]: Invalid value: "{queue_of(obj) or ""}": field is immutable')
    if errs:
        raise wh._validating_denied(errs)


def _mutate_pod(sandbox: Any, pod: dict) -> dict:
    meta = pod.get("metadata") or {}
    ann = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    if ann.get(SERVING) != "true" or wh.NAME not in labels:
        return pod
    lws = sandbox.store.get(wh.LWS_RESOURCE, meta.get("namespace"), labels[wh.NAME])
    if lws is None:
        return pod
    index = labels.get(wh.GROUP_INDEX)
    if index is None or not str(index).isdigit():
        return pod
    name = kueue_workload_name(lws["metadata"]["name"], lws["metadata"]["uid"], int(index))
    labels[MANAGED_LABEL] = "true"
    ann[POD_GROUP_NAME] = name
    ann[PREBUILT_WORKLOAD_ANNOTATION] = name
    ann[TOTAL_COUNT] = ann.get(wh.SIZE, "1")
    leader_tpl = bool((lws["spec"].get("leaderWorkerTemplate") or {}).get("leaderTemplate"))
    ann[ROLE_HASH] = ("leader" if labels.get(wh.WORKER_INDEX) == "0" else "worker") if leader_tpl else "main"
    spec = pod.setdefault("spec", {})
    have = {g.get("name") for g in spec.get("schedulingGates") or []}
    spec["schedulingGates"] = list(spec.get("schedulingGates") or []) + [{"name": g} for g in GATES if g not in have]
    return pod
