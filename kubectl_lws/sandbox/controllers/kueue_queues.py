"""ClusterQueue and LocalQueue status: counts, reservation and usage per flavor, Active (golden G.1)."""
from __future__ import annotations

import copy
from decimal import Decimal

from .base import Controller
from .kueue_common import CLUSTER_QUEUES, LOCAL_QUEUES, WORKLOADS, fmt, is_true, set_condition
from ..admission import quantity
from ..kueue_api import cluster_queue_of, is_pending
from ..store import now_iso


class KueueQueuesController(Controller):
    """One key, "all": every queue's status from the Workloads."""
    name = "kueue-queues"

    def on_event(self, type_, resource, obj, old):
        if resource in (WORKLOADS, CLUSTER_QUEUES, LOCAL_QUEUES):
            if resource != WORKLOADS and type_ == "MODIFIED" and (obj.get("spec") == (old or {}).get("spec")):
                return  # our own status writes
            self.enqueue("all")

    def reconcile(self, key):
        now = now_iso()
        workloads = self.store.list(WORKLOADS)
        per_cq: dict[str, dict] = {}
        per_lq: dict[tuple[str, str], dict] = {}
        for wl in workloads:
            ns = wl["metadata"].get("namespace")
            lq_key = (ns, (wl.get("spec") or {}).get("queueName") or "")
            adm = (wl.get("status") or {}).get("admission") or {}
            cq = adm.get("clusterQueue") or cluster_queue_of(self.store, wl)
            for bucket in (per_cq.setdefault(cq, _empty()), per_lq.setdefault(lq_key, _empty())):
                if is_pending(wl, now):
                    bucket["pending"] += 1
                elif adm and is_true(wl, "QuotaReserved"):
                    bucket["reserving"] += 1
                    if is_true(wl, "Admitted"):
                        bucket["admitted"] += 1
                    for psa in adm.get("podSetAssignments") or []:
                        for r, v in (psa.get("resourceUsage") or {}).items():
                            f = (psa.get("flavors") or {}).get(r)
                            bucket["usage"][(f, r)] = bucket["usage"].get((f, r), Decimal(0)) + quantity(v)
        for cq in self.store.list(CLUSTER_QUEUES):
            self._write(CLUSTER_QUEUES, cq, per_cq.get(cq["metadata"]["name"]) or _empty(), True,
                        "Can admit new workloads")
        for lq in self.store.list(LOCAL_QUEUES):
            key = (lq["metadata"].get("namespace"), lq["metadata"]["name"])
            self._write(LOCAL_QUEUES, lq, per_lq.get(key) or _empty(), False, "Can submit new workloads to localQueue")

    def _write(self, resource: str, obj: dict, b: dict, cluster: bool, active: str) -> None:
        new = copy.deepcopy(obj)
        st = new.setdefault("status", {})
        flavors: dict[str, list[dict]] = {}
        for (f, r), v in sorted(b["usage"].items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            entry = {"name": r, "total": fmt(r, v)}
            if cluster:
                entry = {"borrowed": "0", **entry}
            flavors.setdefault(f, []).append(entry)
        usage = [{"name": f, "resources": rs} for f, rs in flavors.items()]
        st.update(admittedWorkloads=b["admitted"], reservingWorkloads=b["reserving"], pendingWorkloads=b["pending"],
                  flavorsReservation=usage, flavorsUsage=copy.deepcopy(usage))
        set_condition(new, "Active", "True", "Ready", active)
        if new != obj:
            self.store.update(resource, new, subresource="status")


def _empty() -> dict:
    return {"pending": 0, "reserving": 0, "admitted": 0, "usage": {}}
