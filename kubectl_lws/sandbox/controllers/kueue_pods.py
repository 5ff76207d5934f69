"""Kueue's pod and workload controllers: ungate admitted groups, track PodsReady, evict on the PodsReady
timeout, requeue with back-off, deactivate past the requeuing limit (golden G.1, G.4).

Admitted: the group's pods lose both gates and gain the queue labels, the ``workload`` annotation and the
flavor's node labels as ``nodeSelector`` (plus ``kubernetes.io/hostname`` where TAS chose a node);
"Started: Admitted by clusterQueue X" on each. With ``waitForPodsReady`` a group not Ready within the
timeout is evicted (``Evicted=True PodsReadyTimeout``, quota released, ``requeueState``), its pods
stopped and re-created gated by the LWS controller; after the back-off it is requeued
(``Requeued=True BackoffFinished``); one more timeout than ``backoffLimitCount`` allows and it is
deactivated (``spec.active: false``, ``DeactivatedDueToRequeuingLimitExceeded``): it never starts again
by itself.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from . import events
from .base import Controller
from .kueue_common import (CLUSTER_QUEUE_LABEL, COMPONENT_PODS, COMPONENT_WORKLOAD, FLAVORS, HOSTNAME,
                           LOCAL_QUEUE_LABEL, NOT_READY, PODSET_LABEL, WORKLOAD_ANNOTATION, WORKLOADS, config,
                           condition, drop_condition, group_pods, is_true, lws_of_workload, podset_of, seconds,
                           set_condition, workload_index)
from .kueue_workload import stop_group
from .statefulset import pod_ready

REQUEUING_LIMIT = "The workload is deactivated due to exceeding the maximum number of re-queuing retries"


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class KueuePodsController(Controller):
    """Keys: (namespace, workload name)."""
    name = "kueue-pods"

    def __init__(self, mgr):
        super().__init__(mgr)
        self.timers: set[tuple] = set()  # (ns, name, what, generation-ish) already scheduled

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == WORKLOADS and type_ != "DELETED":
            self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource == "pods" and type_ != "DELETED":
            name = (meta.get("annotations") or {}).get("kueue.x-k8s.io/prebuilt-workload-name")
            if name:
                self.enqueue((meta.get("namespace"), name))

    def reconcile(self, key):
        ns, name = key
        wl = self.store.get(WORKLOADS, ns, name)
        if wl is None or wl["metadata"].get("deletionTimestamp"):
            return
        lws = lws_of_workload(self.store, wl)
        index = workload_index(wl)
        if lws is None or index is None:
            return
        pods = group_pods(self.store, lws, index)
        admitted = is_true(wl, "Admitted") and (wl.get("status") or {}).get("admission")
        if admitted:
            self._ungate(wl, lws, pods)
        self._pods_ready(wl, lws, pods, bool(admitted))
        self._backoff(wl)

    # ---- admitted: ungate ---------------------------------------------------------------------------
    def _ungate(self, wl: dict, lws: dict, pods: list[dict]) -> None:
        adm = wl["status"]["admission"]
        cq = adm.get("clusterQueue")
        by_set = {psa.get("name"): psa for psa in adm.get("podSetAssignments") or []}
        slots: dict[str, list[str]] = {}
        for ps_name, psa in by_set.items():
            hosts = []
            for sl in ((psa.get("topologyAssignment") or {}).get("slices") or []):
                node = ((sl.get("valuesPerLevel") or [{}])[-1]).get("universal")
                hosts += [node] * int((sl.get("podCounts") or {}).get("universal") or 0)
            slots[ps_name] = hosts
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if not pod["spec"].get("schedulingGates"):
                continue
            ps_name = podset_of(pod, lws)
            psa = by_set.get(ps_name) or {}
            flavor = self.store.get(FLAVORS, None, next(iter((psa.get("flavors") or {}).values()), ""))
            new = copy.deepcopy(pod)
            meta = new["metadata"]
            meta.setdefault("labels", {}).update({CLUSTER_QUEUE_LABEL: cq, LOCAL_QUEUE_LABEL: wl["spec"]["queueName"],
                                                  PODSET_LABEL: ps_name})
            meta.setdefault("annotations", {})[WORKLOAD_ANNOTATION] = wl["metadata"]["name"]
            selector = dict(((flavor or {}).get("spec") or {}).get("nodeLabels") or {})
            hosts = slots.get(ps_name) or []
            if hosts:
                worker = int((meta.get("labels") or {}).get("leaderworkerset.sigs.k8s.io/worker-index", "0") or 0)
                slot = worker - 1 if ps_name == "worker" else worker
                selector[HOSTNAME] = hosts[min(max(slot, 0), len(hosts) - 1)]
            if selector:
                new["spec"]["nodeSelector"] = {**(new["spec"].get("nodeSelector") or {}), **selector}
            new["spec"]["schedulingGates"] = []
            new["spec"].pop("schedulingGates")
            updated = self.store.update("pods", new)
            events.emit(self.store, updated, "Started", f"Admitted by clusterQueue {cq}", action="Started",
                        component=COMPONENT_PODS)

    # ---- PodsReady and waitForPodsReady ---------------------------------------------------------------
    def _pods_ready(self, wl: dict, lws: dict, pods: list[dict], admitted: bool) -> None:
        size = int((lws["spec"].get("leaderWorkerTemplate") or {}).get("size") or 1)
        ready = admitted and len(pods) == size and all(pod_ready(p) for p in pods)
        new = copy.deepcopy(wl)
        if ready:
            changed = set_condition(new, "PodsReady", "True", "Started",
                                    "All pods reached readiness and the workload is running")
        else:
            cur = condition(wl, "PodsReady")
            # once Started, a group that loses a pod keeps it (Kueue tracks the first readiness); tracked
            # from the group's first pod on (golden G.1: after QuotaReserved on admitted Workloads)
            changed = False if (cur and cur.get("status") == "True") or (cur is None and not pods) else \
                set_condition(new, "PodsReady", "False", "WaitForStart", NOT_READY)
        if changed:
            wl = self.store.update(WORKLOADS, new, subresource="status")
        wait = config(self.mgr.sandbox).get("waitForPodsReady") or {}
        if not admitted or ready or not wait or wait.get("enable") is False:
            return
        timeout = seconds(wait.get("timeout"), 300.0)
        since = condition(wl, "Admitted") or {}
        # one timer per admission: the requeue count tells two admissions within a second apart
        tries = int(((wl.get("status") or {}).get("requeueState") or {}).get("count") or 0)
        key = (wl["metadata"]["namespace"], wl["metadata"]["name"], "timeout", since.get("lastTransitionTime"), tries)
        if key in self.timers:
            return
        self.timers.add(key)
        self.mgr.later(self.mgr.delay(timeout), lambda: self._timed_out(key))

    def _timed_out(self, key: tuple) -> None:
        ns, name, _, admitted_at, tries = key
        wl = self.store.get(WORKLOADS, ns, name)
        if wl is None or not is_true(wl, "Admitted") or is_true(wl, "PodsReady"):
            return
        if (condition(wl, "Admitted") or {}).get("lastTransitionTime") != admitted_at or \
                int(((wl.get("status") or {}).get("requeueState") or {}).get("count") or 0) != tries:
            return
        wait = config(self.mgr.sandbox).get("waitForPodsReady") or {}
        strategy = wait.get("requeuingStrategy") or {}
        limit = strategy.get("backoffLimitCount", wait.get("backoffLimitCount"))
        count = int(((wl.get("status") or {}).get("requeueState") or {}).get("count") or 0)
        lws = lws_of_workload(self.store, wl)
        pods = group_pods(self.store, lws, workload_index(wl) or 0) if lws is not None else []
        timeout = seconds(wait.get("timeout"), 300.0)
        new = copy.deepcopy(wl)
        st = new.setdefault("status", {})
        st["accumulatedPastExecutionTimeSeconds"] = int(st.get("accumulatedPastExecutionTimeSeconds") or 0) \
            + int(timeout)
        if limit is not None and count >= int(limit):
            self._deactivate(new, pods)
            return
        message = f"Exceeded the PodsReady timeout {ns}/{name}"
        base = float(strategy.get("backoffBaseSeconds", wait.get("backoffBaseSeconds", 60)))
        cap = float(strategy.get("backoffMaxSeconds", wait.get("backoffMaxSeconds", 3600)))
        delay = self.mgr.delay(min(base * (2 ** count), cap))  # sandbox time: requeueAt is when it happens
        st["requeueState"] = {"count": count + 1,
                              "requeueAt": _iso(datetime.now(timezone.utc) + timedelta(seconds=delay))}
        self._evict(new, "PodsReadyTimeout", message, {"reason": "PodsReadyTimeout", "underlyingCause": "WaitForStart"})
        set_condition(new, "Requeued", "False", "PodsReadyTimeout", message)
        updated = self.store.update(WORKLOADS, new, subresource="status")
        events.emit(self.store, updated, "EvictedDueToPodsReadyTimeout", message, action="EvictedDueToPodsReadyTimeout",
                    component=COMPONENT_WORKLOAD)
        stop_group(self.store, pods, message)
        requeue = (ns, name, "requeue", st["requeueState"]["requeueAt"])
        self.timers.add(requeue)
        self.mgr.later(delay, lambda: self._requeued(requeue))

    def _evict(self, new: dict, reason: str, message: str, eviction: dict) -> None:
        """Evicted, quota released, no longer admitted (the shape of golden G.4's workload)."""
        set_condition(new, "Evicted", "True", reason, message)
        set_condition(new, "QuotaReserved", "False", "Pending", message)
        set_condition(new, "Admitted", "False", "NoReservation", "The workload has no reservation")
        st = new["status"]
        st.pop("admission", None)
        stats = st.setdefault("schedulingStats", {}).setdefault("evictions", [])
        for e in stats:
            if (e.get("reason"), e.get("underlyingCause")) == (eviction["reason"], eviction["underlyingCause"]):
                e["count"] = int(e.get("count") or 0) + 1
                break
        else:
            stats.append({"count": 1, **eviction})

    def _deactivate(self, new: dict, pods: list[dict]) -> None:
        first = copy.deepcopy(new)
        set_condition(first, "DeactivationTarget", "True", "RequeuingLimitExceeded", REQUEUING_LIMIT)
        marked = self.store.update(WORKLOADS, first, subresource="status")
        events.emit(self.store, marked, "EvictedDueToDeactivatedDueToRequeuingLimitExceeded", REQUEUING_LIMIT,
                    action="EvictedDueToDeactivatedDueToRequeuingLimitExceeded", component=COMPONENT_WORKLOAD)
        spec_new = copy.deepcopy(marked)
        spec_new["spec"]["active"] = False
        inactive = self.store.update(WORKLOADS, spec_new)
        final = copy.deepcopy(inactive)
        reason = "DeactivatedDueToRequeuingLimitExceeded"
        self._evict(final, reason, REQUEUING_LIMIT, {"reason": "Deactivated", "underlyingCause": "RequeuingLimitExceeded"})
        set_condition(final, "Requeued", "False", reason, REQUEUING_LIMIT)
        drop_condition(final, "DeactivationTarget")
        final["status"].pop("requeueState", None)
        self.store.update(WORKLOADS, final, subresource="status")
        stop_group(self.store, pods, REQUEUING_LIMIT)

    def _requeued(self, key: tuple) -> None:
        ns, name, _, at = key
        wl = self.store.get(WORKLOADS, ns, name)
        if wl is None or ((wl.get("status") or {}).get("requeueState") or {}).get("requeueAt") != at:
            return
        new = copy.deepcopy(wl)
        if set_condition(new, "Requeued", "True", "BackoffFinished", "The workload backoff was finished"):
            self.store.update(WORKLOADS, new, subresource="status")

    def _backoff(self, wl: dict) -> None:
        """A requeue back-off whose timer was lost (the sandbox restarted its controllers): finish it."""
        at = ((wl.get("status") or {}).get("requeueState") or {}).get("requeueAt")
        if not at or is_true(wl, "Requeued") or not is_true(wl, "Evicted"):
            return
        key = (wl["metadata"]["namespace"], wl["metadata"]["name"], "requeue", at)
        if key in self.timers:
            return
        self.timers.add(key)
        left = (datetime.fromisoformat(at.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()
        self.mgr.later(max(left, 0.0), lambda: self._requeued(key))
