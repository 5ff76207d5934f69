"""Kueue's LWS integration: one Workload per group of a queued LWS (golden G.1, G.2).

The Workload is created as soon as the group index exists in ``spec.replicas`` (before its pods), named
``leaderworkerset-<lws>-<i>-<h5>``, owned by the LWS and, a moment later, by each pod of the group
("OwnerReferencesAdded"). Groups removed by a scale-down lose their Workload at once. A Workload
deleted while its group runs stops the group ("Stopped: missing workload", the pods are deleted and
come back gated) and is created again under the same name, without conditions: the freed quota then
goes to the oldest pending Workload, not to the re-created one.
"""
from __future__ import annotations

import copy

from . import events
from .base import Controller
from .. import webhooks as wh
from .kueue_common import (API_VERSION, COMPONENT_LWS, COMPONENT_PODS, JOB_UID_LABEL, WORKLOADS,
                           WORKLOAD_INDEX_ANNOTATION, group_of, group_pods, kueue_workload_name, podsets, queue_of,
                           workload_index)


class KueueLwsController(Controller):
    """Keys: (namespace, lws name)."""
    name = "kueue-lws"

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == wh.LWS_RESOURCE:
            if queue_of(obj) or queue_of(old):
                self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource == "pods":
            name = (meta.get("labels") or {}).get(wh.NAME)
            if name and (meta.get("labels") or {}).get("kueue.x-k8s.io/managed") == "true":
                self.enqueue((meta.get("namespace"), name))
        elif resource == WORKLOADS:
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "LeaderWorkerSet":
                    self.enqueue((meta.get("namespace"), ref.get("name")))

    def reconcile(self, key):
        ns, name = key
        lws = self.store.get(wh.LWS_RESOURCE, ns, name)
        if lws is None or lws["metadata"].get("deletionTimestamp") or not queue_of(lws):
            return
        uid = lws["metadata"]["uid"]
        replicas = int(lws["spec"].get("replicas", 1))
        mine = {w["metadata"]["name"]: w for w in self.store.list(WORKLOADS, ns, label_selector={JOB_UID_LABEL: uid})}
        by_index = {workload_index(w): w for w in mine.values()}
        for index, wl in list(by_index.items()):
            if index is None or index >= replicas:
                self.store.delete(WORKLOADS, ns, wl["metadata"]["name"])
        for index in range(replicas):
            wl = by_index.get(index)
            pods = group_pods(self.store, lws, index)
            if wl is None:
                if any(not p["spec"].get("schedulingGates") for p in pods):
                    stop_group(self.store, pods, "missing workload")
                    pods = []
                wl = self._create(lws, index)
                if wl is None:
                    continue
            self._own(wl, pods)

    def _create(self, lws: dict, index: int) -> dict | None:
        meta = lws["metadata"]
        name = kueue_workload_name(meta["name"], meta["uid"], index)
        wl = {"apiVersion": API_VERSION, "kind": "Workload",
              "metadata": {"name": name, "namespace": meta["namespace"],
                           "labels": {JOB_UID_LABEL: meta["uid"]},
                           "annotations": {WORKLOAD_INDEX_ANNOTATION: str(index),
                                           "kueue.x-k8s.io/is-group-workload": "true",
                                           "kueue.x-k8s.io/job-owner-gvk":
                                               "leaderworkerset.x-k8s.io/v1, Kind=LeaderWorkerSet",
                                           "kueue.x-k8s.io/job-owner-name": meta["name"]},
                           "ownerReferences": [{"apiVersion": lws.get("apiVersion", "leaderworkerset.x-k8s.io/v1"),
                                                "kind": "LeaderWorkerSet", "name": meta["name"],
                                                "uid": meta["uid"]}]},
              "spec": {"active": True, "podSets": podsets(lws), "priority": 0, "queueName": queue_of(lws)}}
        try:
            created = self.store.create(WORKLOADS, wl)
        except Exception:  # noqa: BLE001 - the old one is still being deleted; its DELETED requeues us
            return None
        events.emit(self.store, lws, "CreatedWorkload", f"Created Workload: {meta['namespace']}/{name}",
                    action="CreatedWorkload", component=COMPONENT_LWS)
        return created

    def _own(self, wl: dict, pods: list[dict]) -> None:
        """The group's pods become owners too, one "OwnerReferencesAdded" event per change (golden G.1)."""
        refs = wl["metadata"].get("ownerReferences") or []
        have = {r.get("uid") for r in refs}
        added = [p for p in pods if p["metadata"]["uid"] not in have and group_of(p) is not None]
        if not added:
            return
        new = copy.deepcopy(wl)
        new["metadata"]["ownerReferences"] = refs + [{"apiVersion": "v1", "kind": "Pod", "name": p["metadata"]["name"],
                                                      "uid": p["metadata"]["uid"]} for p in added]
        updated = self.store.update(WORKLOADS, new)
        events.emit(self.store, updated, "OwnerReferencesAdded", f"Added {len(added)} owner reference(s)",
                    action="OwnerReferencesAdded", component=COMPONENT_PODS)



def stop_group(store, pods: list[dict], why: str) -> None:
    """Kueue stops a group it evicted or deactivated: "Stopped" on each pod, the pods deleted (the LWS
    controller creates them again, gated)."""
    for p in pods:
        events.emit(store, p, "Stopped", why, action="Stopped", component=COMPONENT_PODS)
        store.delete("pods", p["metadata"]["namespace"], p["metadata"]["name"])
