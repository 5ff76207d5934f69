"""Volcano gang scheduling of LWS groups (LWS ``gangSchedulingManagement.schedulerProvider: volcano``).

LWS names each group's PodGroup ``<lws>-<group>-<revision>`` in the ``scheduling.k8s.io/group-name``
annotation of every pod and creates it, owned by the leader pod, with ``minMember`` the group size (1
under ``startupPolicy: LeaderReady``) and the LWS's ``scheduling.volcano.sh/queue-name`` (reference §5,
§8.6). The Volcano scheduler binds a gang's pods all at once or none: a gang that does not fit stays
``Pending`` with an ``Unschedulable`` condition worded as Volcano words it, and its pods Pending.

In the sandbox only pods whose template asks for ``schedulerName: volcano`` join a gang (the default
scheduler leaves them alone), so a Volcano add-on and the other LWS of a scenario can live side by side.
"""
from __future__ import annotations

import copy
from typing import Any

from kubectl_lws.model.admission import VOLCANO_GROUP_ANNOTATION, VOLCANO_QUEUE_ANNOTATION, VOLCANO_SCHEDULER

from . import events
from .base import Controller, owner_ref
from .. import webhooks as wh
from ..resources import VOLCANO_GROUP
from ..store import now_iso
from .statefulset import pod_ready

PODGROUPS = f"podgroups.{VOLCANO_GROUP}"


def plugin(sandbox: Any):
    """LWS's pod webhook with the volcano provider: the PodGroup's name on every pod of a gang."""

    def admit(operation: str, resource: str, obj: dict, old: dict | None) -> dict:
        if resource != "pods" or operation != "CREATE":
            return obj
        spec = obj.get("spec") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if spec.get("schedulerName") != VOLCANO_SCHEDULER or wh.NAME not in labels:
            return obj
        name = f"{labels[wh.NAME]}-{labels.get(wh.GROUP_INDEX, '0')}-{labels.get(wh.REVISION, '')}"
        obj.setdefault("metadata", {}).setdefault("annotations", {})[VOLCANO_GROUP_ANNOTATION] = name
        return obj
    return admit


class VolcanoController(Controller):
    """Keys: (namespace, podgroup name)."""
    name = "volcano"

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == "pods":
            pg = (meta.get("annotations") or {}).get(VOLCANO_GROUP_ANNOTATION)
            if pg:
                self.enqueue((meta.get("namespace"), pg))
        elif resource == PODGROUPS and type_ == "ADDED":
            self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource == "nodes" or (resource == "pods" and type_ == "DELETED"):
            for pg in self.store.list(PODGROUPS):
                if ((pg.get("status") or {}).get("phase") or "Pending") != "Running":
                    self.enqueue((pg["metadata"].get("namespace"), pg["metadata"]["name"]))

    def reconcile(self, key):
        ns, name = key
        members = [p for p in self.store.list("pods", ns)
                   if (p["metadata"].get("annotations") or {}).get(VOLCANO_GROUP_ANNOTATION) == name
                   and not p["metadata"].get("deletionTimestamp")]
        pg = self.store.get(PODGROUPS, ns, name)
        if pg is None:
            leader = next((p for p in members if (p["metadata"].get("labels") or {}).get(wh.WORKER_INDEX) == "0"), None)
            if leader is None:
                return
            pg = self._create(leader, name)
            if pg is None:
                return
        waiting = [p for p in members if not (p.get("spec") or {}).get("nodeName")]
        minimum = int((pg.get("spec") or {}).get("minMember") or 1)
        if not waiting:
            running = sum(1 for p in members if pod_ready(p))
            self._status(pg, "Running" if running >= minimum else "Inqueue", None, running)
            return
        sched = next((c for c in self.mgr.controllers if c.name == "scheduler"), None)
        if sched is None:
            return
        ctx = sched._context()
        trial = {"nodes": ctx["nodes"], "placed": list(ctx["placed"]), "anti": list(ctx["anti"]),
                 "used": {k: dict(v) for k, v in ctx["used"].items()}}
        plan, unfit, reasons = [], 0, {}
        for pod in sorted(waiting, key=lambda p: p["metadata"]["name"]):
            trial["req"] = _requests(pod)
            node = None
            for n in trial["nodes"]:
                why = sched._fit(pod, n, trial)
                if why is None:
                    node = n
                    break
                reasons[why[0]] = reasons.get(why[0], 0) + 1
            if node is None:
                unfit += 1
                continue
            plan.append((pod, node))
            sched._account(pod | {"spec": dict(pod["spec"], nodeName=node["metadata"]["name"])}, node,
                           trial["placed"], trial["anti"], trial["used"])
        scheduled = len(members) - len(waiting)
        if unfit == 0 and scheduled + len(plan) >= minimum:
            for pod, node in plan:
                sched._bind(pod, node)
            self._status(pg, "Running" if scheduled + len(plan) >= minimum else "Inqueue", None, scheduled)
            return
        n = len(members)
        message = (f"{unfit}/{n} tasks in gang unschedulable: pod group is not ready, {len(waiting)} Pending, "
                   f"{minimum} minAvailable; Pending: {unfit} Unschedulable, {len(waiting) - unfit} Schedulable")
        self._status(pg, "Pending", message, scheduled)
        for pod in waiting:
            sched._unschedulable(pod, message)

    def _create(self, leader: dict, name: str) -> dict | None:
        ns = leader["metadata"]["namespace"]
        lws = self.store.get(wh.LWS_RESOURCE, ns, (leader["metadata"].get("labels") or {}).get(wh.NAME, ""))
        if lws is None:
            return None
        size = int((lws["spec"].get("leaderWorkerTemplate") or {}).get("size") or 1)
        minimum = 1 if lws["spec"].get("startupPolicy") == "LeaderReady" else size
        queue = (lws["metadata"].get("annotations") or {}).get(VOLCANO_QUEUE_ANNOTATION) or "default"
        try:
            return self.store.create(PODGROUPS, {
                "apiVersion": f"{VOLCANO_GROUP}/v1beta1", "kind": "PodGroup",
                "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner_ref(leader)]},
                "spec": {"minMember": minimum, "queue": queue}, "status": {"phase": "Pending"}})
        except Exception:  # noqa: BLE001 - created meanwhile
            return self.store.get(PODGROUPS, ns, name)

    def _status(self, pg: dict, phase: str, unschedulable: str | None, running: int) -> None:
        new = copy.deepcopy(pg)
        st = new.setdefault("status", {})
        st["phase"] = phase
        st["running"] = running
        conds = [c for c in st.get("conditions") or [] if c.get("type") not in ("Unschedulable", "Scheduled")]
        if unschedulable is not None:
            conds.append({"type": "Unschedulable", "status": "True", "reason": "NotEnoughResources",
                          "message": unschedulable, "lastTransitionTime": now_iso(), "transitionID": ""})
        else:
            conds.append({"type": "Scheduled", "status": "True", "reason": "tasks in gang are ready to be scheduled",
                          "message": "", "lastTransitionTime": now_iso(), "transitionID": ""})
        st["conditions"] = conds
        old = [(c.get("type"), c.get("message")) for c in (pg.get("status") or {}).get("conditions") or []]
        if [(c.get("type"), c.get("message")) for c in conds] == old and (pg.get("status") or {}).get("phase") == phase:
            return
        updated = self.store.update(PODGROUPS, new, subresource="status")
        if unschedulable is not None:
            events.emit(self.store, updated, "Unschedulable", unschedulable, type_="Warning", component="volcano")


def _requests(pod: dict) -> dict:
    from .scheduler import pod_requests

    return pod_requests(pod)
