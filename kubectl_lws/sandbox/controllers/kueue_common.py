"""What the sandbox's Kueue controllers share: keys, pod sets of an LWS group, quantities, conditions.

The facts are Kueue v0.19.2's as recorded admitting LWS (golden kueue/, README section G): one Workload
per group named by ``model.admission.kueue_workload_name``, pod sets ``leader``/``worker`` (``main``
without a leader template), both scheduling gates on every managed pod, the condition reasons and
messages word for word.
"""
from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

from kubectl_lws.model.admission import (ADMISSION_GATE, CLUSTER_QUEUE_LABEL, JOB_UID_LABEL, LOCAL_QUEUE_LABEL,
                                         MANAGED_LABEL, PODSET_GROUP_ANNOTATION, PREBUILT_WORKLOAD_ANNOTATION,
                                         PREFERRED_TOPOLOGY_ANNOTATION, QUEUE_LABEL, REQUIRED_TOPOLOGY_ANNOTATION,
                                         TOPOLOGY_GATE, WORKLOAD_INDEX_ANNOTATION, kueue_workload_name)

from ..admission import quantity
from ..resources import KUEUE_GROUP
from ..store import now_iso
from .. import webhooks as wh

WORKLOADS = f"workloads.{KUEUE_GROUP}"
CLUSTER_QUEUES = f"clusterqueues.{KUEUE_GROUP}"
LOCAL_QUEUES = f"localqueues.{KUEUE_GROUP}"
FLAVORS = f"resourceflavors.{KUEUE_GROUP}"
TOPOLOGIES = f"topologies.{KUEUE_GROUP}"
API_VERSION = f"{KUEUE_GROUP}/v1beta2"
GATES = (ADMISSION_GATE, TOPOLOGY_GATE)
PODSET_LABEL = "kueue.x-k8s.io/podset"
WORKLOAD_ANNOTATION = "kueue.x-k8s.io/workload"
POD_GROUP_NAME = "kueue.x-k8s.io/pod-group-name"
HOSTNAME = "kubernetes.io/hostname"
COMPONENT_ADMISSION = "kueue-admission"
COMPONENT_PODS = "pod-kueue-controller"
COMPONENT_WORKLOAD = "kueue-workload-controller"
COMPONENT_LWS = "leaderworkerset.x-k8s.io/leaderworkerset-kueue-controller"
NOT_READY = "Not all pods are ready or succeeded"

__all__ = ["WORKLOADS", "CLUSTER_QUEUES", "LOCAL_QUEUES", "FLAVORS", "TOPOLOGIES", "GATES", "QUEUE_LABEL",
           "MANAGED_LABEL", "JOB_UID_LABEL", "LOCAL_QUEUE_LABEL", "CLUSTER_QUEUE_LABEL", "WORKLOAD_INDEX_ANNOTATION",
           "PREBUILT_WORKLOAD_ANNOTATION", "kueue_workload_name", "REQUIRED_TOPOLOGY_ANNOTATION",
           "PREFERRED_TOPOLOGY_ANNOTATION", "PODSET_GROUP_ANNOTATION"]


def queue_of(lws: dict | None) -> str | None:
    """The LocalQueue an LWS is queued in (``manageJobsWithoutQueueName: false``: the label decides)."""
    return ((lws or {}).get("metadata", {}).get("labels") or {}).get(QUEUE_LABEL)


def group_of(pod: dict) -> int | None:
    value = (pod["metadata"].get("labels") or {}).get(wh.GROUP_INDEX)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def podset_of(pod: dict, lws: dict) -> str:
    """``leader``/``worker``, or ``main`` for an LWS without a leader template (golden G4)."""
    if not (lws["spec"].get("leaderWorkerTemplate") or {}).get("leaderTemplate"):
        return "main"
    return "leader" if (pod["metadata"].get("labels") or {}).get(wh.WORKER_INDEX) == "0" else "worker"


def _template(tpl: dict) -> dict:
    meta = tpl.get("metadata") or {}
    spec = tpl.get("spec") or {}
    return {"metadata": {k: copy.deepcopy(meta[k]) for k in ("annotations", "labels") if meta.get(k)},
            "spec": {"containers": [{k: copy.deepcopy(c[k]) for k in ("image", "name", "resources") if k in c}
                                    for c in spec.get("containers") or []],
                     **({"nodeSelector": dict(spec["nodeSelector"])} if spec.get("nodeSelector") else {})}}


def _topology_request(tpl: dict, index_label: bool) -> dict | None:
    ann = (tpl.get("metadata") or {}).get("annotations") or {}
    out: dict[str, Any] = {}
    if index_label:
        out["podIndexLabel"] = wh.WORKER_INDEX
    if ann.get(PODSET_GROUP_ANNOTATION):
        out["podSetGroupName"] = ann[PODSET_GROUP_ANNOTATION]
    if ann.get(REQUIRED_TOPOLOGY_ANNOTATION):
        out["required"] = ann[REQUIRED_TOPOLOGY_ANNOTATION]
    elif ann.get(PREFERRED_TOPOLOGY_ANNOTATION):
        out["preferred"] = ann[PREFERRED_TOPOLOGY_ANNOTATION]
    return out or None


def podsets(lws: dict) -> list[dict]:
    """The Workload's ``spec.podSets`` for one group of ``lws`` (golden G.1)."""
    lwt = lws["spec"].get("leaderWorkerTemplate") or {}
    size = int(lwt.get("size") or 1)
    worker = lwt.get("workerTemplate") or {}
    leader = lwt.get("leaderTemplate")
    out = []
    if leader:
        ps = {"count": 1, "name": "leader", "template": _template(leader)}
        tr = _topology_request(leader, False)
        if tr:
            ps["topologyRequest"] = tr
        out.append(ps)
        if size > 1:
            ps = {"count": size - 1, "name": "worker", "template": _template(worker)}
            ps["topologyRequest"] = _topology_request(worker, True)
            out.append(ps)
    else:
        out.append({"count": size, "name": "main", "template": _template(worker),
                    "topologyRequest": _topology_request(worker, True)})
    return out


def pod_requests(podset: dict) -> dict[str, Decimal]:
    """What one pod of a pod set requests (a request defaults to the limit)."""
    out: dict[str, Decimal] = {}
    for c in ((podset.get("template") or {}).get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("limits") or {})
        req.update(res.get("requests") or {})
        for k, v in req.items():
            out[k] = out.get(k, Decimal(0)) + quantity(v)
    return out


_BIN = (("Ti", Decimal(1024) ** 4), ("Gi", Decimal(1024) ** 3), ("Mi", Decimal(1024) ** 2), ("Ki", Decimal(1024)))


def fmt(resource: str, value: Decimal) -> str:
    """A quantity as Kueue prints it (``4Gi``, ``1``, ``500m``)."""
    if resource == "memory" or resource.endswith("storage"):
        for suffix, unit in _BIN:
            if value >= unit and value % unit == 0:
                return f"{int(value / unit)}{suffix}"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{int(value * 1000)}m"


def condition(obj: dict, ctype: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def is_true(obj: dict, ctype: str) -> bool:
    c = condition(obj, ctype)
    return bool(c and c.get("status") == "True")


def set_condition(obj: dict, ctype: str, status: str, reason: str, message: str) -> bool:
    """metav1.SetStatusCondition: the transition time moves only when the status does. True if changed."""
    st = obj.setdefault("status", {})
    conds = st.setdefault("conditions", [])
    gen = obj["metadata"].get("generation", 1)
    for c in conds:
        if c.get("type") == ctype:
            if (c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration")) == \
                    (status, reason, message, gen):
                return False
            if c.get("status") != status:
                c["lastTransitionTime"] = now_iso()
            c.update(status=status, reason=reason, message=message, observedGeneration=gen)
            return True
    conds.append({"lastTransitionTime": now_iso(), "message": message, "observedGeneration": gen,
                  "reason": reason, "status": status, "type": ctype})
    return True


def drop_condition(obj: dict, ctype: str) -> None:
    st = obj.get("status") or {}
    st["conditions"] = [c for c in st.get("conditions") or [] if c.get("type") != ctype]


def lws_of_workload(store: Any, wl: dict) -> dict | None:
    for ref in wl["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "LeaderWorkerSet":
            obj = store.get(wh.LWS_RESOURCE, wl["metadata"].get("namespace"), ref.get("name", ""))
            if obj is not None and obj["metadata"].get("uid") == ref.get("uid"):
                return obj
    return None


def group_pods(store: Any, lws: dict, index: int) -> list[dict]:
    """The live pods of one group (``<lws>-<i>`` and ``<lws>-<i>-<w>``)."""
    ns, name = lws["metadata"]["namespace"], lws["metadata"]["name"]
    pat = re.compile(rf"^{re.escape(name)}-{index}(-\d+)?$")
    return [p for p in store.list("pods", ns, label_selector={wh.NAME: name})
            if pat.match(p["metadata"]["name"]) and not p["metadata"].get("deletionTimestamp")]


def workload_index(wl: dict) -> int | None:
    value = (wl["metadata"].get("annotations") or {}).get(WORKLOAD_INDEX_ANNOTATION)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def config(sandbox: Any) -> dict:
    """The scenario's ``kueue:`` settings (a Kueue Configuration's fields), with Kueue's defaults."""
    return (getattr(sandbox, "addon_config", None) or {}).get("kueue") or {}


def seconds_since(stamp: str | None) -> int:
    """Whole seconds from an RFC 3339 time to now (Kueue's "wait time since queued was Ns")."""
    from datetime import datetime, timezone

    from kubectl_lws.model.timeutil import parse_time

    then = parse_time(stamp)
    return max(0, int((datetime.now(timezone.utc) - then).total_seconds())) if then else 0


def seconds(value: Any, default: float) -> float:
    """``30s``, ``2m``, ``1m30s`` or a number of seconds."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    total, found = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", str(value)):
        total += float(num) * {"h": 3600, "m": 60, "s": 1}[unit]
        found = True
    return total if found else default
