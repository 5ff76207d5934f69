"""LWS pod controller: one worker StatefulSet per group (startupPolicy, exclusive topology), UniquePerReplica
Services owned by the leader, and group re-creation under the restart policies (reference §8.5-§8.7;
golden traces b1/b2/b3)."""
from __future__ import annotations

import copy

from kubectl_lws.model.keys import RECREATE_AFTER_START_ANNOTATION

from .. import webhooks as wh
from . import events
from .base import Controller, controller_ref, owner_ref
from .common import (CR, LWS, STS, claim_templates, default_pod_spec, lws_pod_annotations, revision_spec,
                     spec_from_revision)
from .lws import headless_service
from .statefulset import pod_ready

AFTER_START_ANNOTATION = RECREATE_AFTER_START_ANNOTATION


class LwsPodController(Controller):
    """Keys: (ns, lws name, group index)."""
    name = "lwspod"

    def on_event(self, type_, resource, obj, old):
        if resource not in ("pods", STS):
            return
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        lws_name = labels.get(wh.NAME)
        if not lws_name:
            return
        gi = labels.get(wh.GROUP_INDEX)
        if gi is None and resource == "pods" and labels.get(wh.WORKER_INDEX) == "0":
            tail = meta["name"].rsplit("-", 1)[-1]
            gi = tail if tail.isdigit() else None
        if gi is not None:
            self.enqueue((meta.get("namespace"), lws_name, int(gi)))

    def reconcile(self, key):
        ns, lws_name, i = key
        lws = self.store.get(LWS, ns, lws_name)
        if lws is None or lws["metadata"].get("deletionTimestamp"):
            return
        leader_name = f"{lws_name}-{i}"
        leader = self.store.get("pods", ns, leader_name)
        if leader is None or leader["metadata"].get("deletionTimestamp"):
            return
        if (leader["metadata"].get("labels") or {}).get(wh.WORKER_INDEX) != "0":
            return
        size = int((leader["metadata"].get("annotations") or {}).get(wh.SIZE, "1"))
        wsts = self.store.get(STS, ns, leader_name)
        current_wsts = wsts is not None and any(r.get("uid") == leader["metadata"]["uid"]
                                                for r in wsts["metadata"].get("ownerReferences") or [])
        workers = []
        if current_wsts:
            for res, pns, pname in self.mgr.index.dependents(wsts["metadata"]["uid"]):
                if res == "pods":
                    p = self.store.get("pods", pns, pname)
                    if p is not None:
                        workers.append(p)
        if self._maybe_recreate(lws, leader, workers, size, i):
            return
        if size > 1 and wsts is None:
            self._create_worker_sts(lws, leader, size, i)
        if (lws["spec"].get("networkConfig") or {}).get("subdomainPolicy") == "UniquePerReplica" and \
                (leader["metadata"].get("annotations") or {}).get(wh.SUBDOMAIN_POLICY) == "UniquePerReplica":
            if self.store.get("services", ns, leader_name) is None:
                self.store.create("services", headless_service(
                    ns, leader_name, {wh.NAME: lws_name}, {wh.GROUP_INDEX: str(i), wh.NAME: lws_name},
                    owner_ref(leader)))

    # ------------------------------------------------------------------------------------ restarts
    def _maybe_recreate(self, lws: dict, leader: dict, workers: list[dict], size: int, i: int) -> bool:
        lwt = lws["spec"].get("leaderWorkerTemplate") or {}
        policy = lwt.get("restartPolicy", "RecreateGroupOnPodRestart")
        if policy in ("None", "Default"):
            return False
        after_start = policy == "RecreateGroupAfterStart" or (
            policy == "RecreateGroupOnPodRestart" and AFTER_START_ANNOTATION in (lws["metadata"].get("annotations") or {}))
        rev = leader["metadata"]["labels"].get(wh.REVISION)
        group = [leader] + [w for w in workers if w["metadata"]["labels"].get(wh.REVISION) == rev]
        trigger = None
        for p in group:
            st = p.get("status") or {}
            restarted = st.get("phase") in ("Running", "Pending") and any(
                int(cs.get("restartCount", 0)) > 0
                for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []))
            if restarted or p["metadata"].get("deletionTimestamp"):
                trigger = p
                break
        if trigger is None:
            return False
        if after_start:
            live = [p for p in group if not p["metadata"].get("deletionTimestamp")]
            if len(group) < size or any((p.get("status") or {}).get("phase") == "Pending" for p in live):
                return False
        ns = leader["metadata"]["namespace"]
        self.store.delete("pods", ns, leader["metadata"]["name"], propagation="Foreground",
                          preconditions={"uid": leader["metadata"]["uid"]})
        events.emit(self.store, lws, "RecreateGroup",
                    f"Worker pod {trigger['metadata']['name']} failed, deleted leader pod "
                    f"{leader['metadata']['name']} to recreate group {i}", action="Delete", related=leader)
        return True

    # ------------------------------------------------------------------------------------ worker STS
    def _group_spec(self, lws: dict, leader: dict) -> dict:
        """The revision the group was built with (its leader's label), else the live spec."""
        rev = leader["metadata"]["labels"].get(wh.REVISION)
        for res, ns, name in self.mgr.index.dependents(lws["metadata"]["uid"]):
            if res == CR:
                cr = self.store.get(CR, ns, name)
                if cr is not None and cr["metadata"].get("labels", {}).get(wh.REVISION) == rev:
                    return spec_from_revision(cr)
        return revision_spec(lws)

    def _create_worker_sts(self, lws: dict, leader: dict, size: int, i: int) -> None:
        if lws["spec"].get("startupPolicy") == "LeaderReady" and not pod_ready(leader):
            return
        lmeta = leader["metadata"]
        ns, lws_name, leader_name = lmeta["namespace"], lws["metadata"]["name"], lmeta["name"]
        ann = lws["metadata"].get("annotations") or {}
        node_selector = None
        topo = ann.get(wh.EXCLUSIVE)
        if topo:
            node_name = (leader.get("spec") or {}).get("nodeName")
            if not node_name:
                return  # wait until the leader is scheduled (trace e: no worker STS while Pending)
            node = self.store.get("nodes", None, node_name)
            value = ((node or {}).get("metadata", {}).get("labels") or {}).get(topo)
            if value is None:
                raise RuntimeError(f"node {node_name} has no label {topo}")
            node_selector = {topo: value}
        rspec = self._group_spec(lws, leader)
        lwt = rspec["leaderWorkerTemplate"]
        network = rspec.get("networkConfig") or {}
        rev = lmeta["labels"].get(wh.REVISION)
        gkey = lmeta["labels"].get(wh.GROUP_KEY)
        wt = copy.deepcopy(lwt.get("workerTemplate") or {})
        tmeta = wt.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update({wh.NAME: lws_name, wh.GROUP_INDEX: str(i), wh.GROUP_KEY: gkey, wh.REVISION: rev})
        tann = dict(tmeta.get("annotations") or {})
        tann.update(lws_pod_annotations(lws, size, lwt, network, False))
        tann[wh.LEADER_NAME] = leader_name
        if any(wh.TPU in ((c.get("resources") or {}).get("limits") or {}) or
               wh.TPU in ((c.get("resources") or {}).get("requests") or {})
               for c in (leader.get("spec") or {}).get("containers") or []):
            tann[wh.LEADER_REQUESTS_TPUS] = "true"
        pspec = default_pod_spec(copy.deepcopy(wt.get("spec") or {}))
        if node_selector:
            pspec.setdefault("nodeSelector", {}).update(node_selector)
        sts_labels = dict(lws["metadata"].get("labels") or {})
        sts_labels.update({wh.NAME: lws_name, wh.GROUP_INDEX: str(i), wh.GROUP_KEY: gkey, wh.REVISION: rev})
        service = leader_name if network.get("subdomainPolicy") == "UniquePerReplica" else lws_name
        sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": leader_name, "namespace": ns, "labels": sts_labels,
                            "ownerReferences": [owner_ref(leader)]},
               "spec": {"replicas": size - 1,
                        "selector": {"matchLabels": {wh.GROUP_INDEX: str(i), wh.GROUP_KEY: gkey, wh.NAME: lws_name}},
                        "template": {"metadata": {"labels": labels, "annotations": tann}, "spec": pspec},
                        "serviceName": service, "podManagementPolicy": "Parallel",
                        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                        "revisionHistoryLimit": 10,
                        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                        "ordinals": {"start": 1}, **claim_templates(lws)}}
        if ann:
            sts["metadata"]["annotations"] = dict(ann)
        try:
            self.store.create(STS, sts)
        except Exception:  # noqa: BLE001 - the old incarnation's STS is still being deleted; its DELETED requeues us
            return
        events.emit(self.store, lws, "GroupsProgressing", f"Created worker statefulset for leader pod {leader_name}",
                    action="Create", related=leader)


__all__ = ["LwsPodController", "controller_ref"]
