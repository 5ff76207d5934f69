"""LeaderWorkerSet controller: ControllerRevisions, the leader StatefulSet and shared Service, the rolling
update (partition / maxUnavailable / maxSurge, highest group first), status and events (reference §3, §4,
§8, §9; golden traces a, c, d)."""
from __future__ import annotations

import copy

from .. import webhooks as wh
from ..store import now_iso
from . import events
from .base import Controller, owner_ref
from .common import (CR, LWS, STS, GroupView, claim_templates, default_pod_spec, lws_pod_annotations, revision_data,
                     revision_key, revision_spec, rollout_params, spec_from_revision)

COND_TEXT = {
    "Available": ("AllGroupsReady", "All replicas are ready"),
    "Progressing": ("GroupsProgressing", "Replicas are progressing"),
    "UpdateInProgress": ("GroupsUpdating", "Rolling Upgrade is in progress"),
}


class LwsController(Controller):
    name = "lws"

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == LWS:
            self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource in ("pods", STS):
            lws_name = (meta.get("labels") or {}).get(wh.NAME)
            if lws_name:
                self.enqueue((meta.get("namespace"), lws_name))

    # -------------------------------------------------------------------------------------- revisions
    def _revisions(self, lws: dict) -> list[dict]:
        out = []
        for res, ns, name in self.mgr.index.dependents(lws["metadata"]["uid"]):
            if res == CR:
                cr = self.store.get(CR, ns, name)
                if cr is not None:
                    out.append(cr)
        return sorted(out, key=lambda c: c.get("revision", 0))

    def _ensure_revision(self, lws: dict, key: str, revs: list[dict]) -> dict:
        for cr in revs:
            if cr["metadata"].get("labels", {}).get(wh.REVISION) == key:
                return cr
        meta = lws["metadata"]
        n = max([c.get("revision", 0) for c in revs] or [0]) + 1
        name = f"{meta['name'][:220]}-{key}-{n}"
        cr = self.store.create(CR, {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {wh.NAME: meta["name"], wh.REVISION: key}, "ownerReferences": [owner_ref(lws)]},
            "data": revision_data(revision_spec(lws)), "revision": n})
        what = "a newly created LeaderWorkerSet" if not revs else "updated LWS"
        events.emit(self.store, lws, "CreatingRevision", f"Creating revision with key {key} for {what}",
                    action="Create", related=cr)
        return cr

    # ------------------------------------------------------------------------------------- leader STS
    def _leader_template(self, lws: dict, rspec: dict, key: str) -> dict:
        lwt = rspec["leaderWorkerTemplate"]
        tpl = copy.deepcopy(lwt.get("leaderTemplate") or lwt.get("workerTemplate") or {})
        tmeta = tpl.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update({wh.NAME: lws["metadata"]["name"], wh.REVISION: key, wh.WORKER_INDEX: "0"})
        ann = dict(tmeta.get("annotations") or {})
        ann.update(lws_pod_annotations(lws, int(lwt.get("size", 1)), lwt, rspec.get("networkConfig") or {}, True))
        return {"metadata": {"labels": labels, "annotations": ann},
                "spec": default_pod_spec(copy.deepcopy(tpl.get("spec") or {}))}

    def _sts_meta(self, lws: dict, key: str, replicas: int) -> dict:
        meta = lws["metadata"]
        labels = dict(meta.get("labels") or {})
        labels.update({wh.NAME: meta["name"], wh.REVISION: key})
        ann = dict(meta.get("annotations") or {})
        ann[wh.REPLICAS] = str(replicas)
        return {"name": meta["name"], "namespace": meta["namespace"], "labels": labels, "annotations": ann,
                "ownerReferences": [owner_ref(lws)]}

    def _create_leader_sts(self, lws: dict, key: str, rspec: dict, replicas: int) -> dict:
        meta = lws["metadata"]
        sts = self.store.create(STS, {
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": self._sts_meta(lws, key, replicas),
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {wh.NAME: meta["name"], wh.WORKER_INDEX: "0"}},
                     "template": self._leader_template(lws, rspec, key), "serviceName": meta["name"],
                     "podManagementPolicy": "Parallel",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "revisionHistoryLimit": 10,
                     "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                     **claim_templates(lws)}})
        return sts

    def _ensure_shared_service(self, lws: dict) -> None:
        meta = lws["metadata"]
        if self.store.get("services", meta["namespace"], meta["name"]) is not None:
            return
        self.store.create("services", headless_service(meta["namespace"], meta["name"], {wh.NAME: meta["name"]},
                                                       {wh.NAME: meta["name"]}, owner_ref(lws)))

    # ------------------------------------------------------------------------------------- reconcile
    def reconcile(self, key):
        ns, name = key
        lws = self.store.get(LWS, ns, name)
        if lws is None or lws["metadata"].get("deletionTimestamp"):
            return
        rkey = revision_key(lws)
        revs = self._revisions(lws)
        self._ensure_revision(lws, rkey, revs)
        R, spec_part, mu, ms = rollout_params(lws)
        policy = (lws["spec"].get("networkConfig") or {}).get("subdomainPolicy", "Shared")
        sts = self.store.get(STS, ns, name)
        if sts is None:
            cr = self._ensure_revision(lws, rkey, self._revisions(lws))
            self._create_leader_sts(lws, rkey, spec_from_revision(cr), R)
            events.emit(self.store, lws, "GroupsProgressing", f"Created leader statefulset {name}",
                        action="Create", related=cr)
            if policy == "Shared":
                self._ensure_shared_service(lws)
            self._update_status(lws, R, spec_part)
            return
        if sts["metadata"].get("deletionTimestamp"):
            return
        if policy == "Shared":
            self._ensure_shared_service(lws)
        sspec = sts["spec"]
        sts_key = sts["metadata"].get("labels", {}).get(wh.REVISION)
        sts_replicas = int(sspec.get("replicas", 0))
        sts_part = int(((sspec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0))
        applied = int((sts["metadata"].get("annotations") or {}).get(wh.REPLICAS, sts_replicas))
        surge_now = max(0, sts_replicas - applied)
        if sts_key != rkey:
            # a new revision: start a rollout with nothing updated yet, plus surge groups at the new revision
            surge = ms if R > ms else max(0, R - mu)
            new_replicas = R + surge
            new_part = max(min(R, applied), spec_part)
            cr = self._ensure_revision(lws, rkey, self._revisions(lws))
            self._write_sts(sts, lws, rkey, spec_from_revision(cr), new_replicas, new_part, R)
            self._update_status(lws, R, spec_part)
            return
        groups = [GroupView(self.store, ns, name, i, rkey) for i in range(max(sts_replicas, R))]
        done = [g.ready and g.updated for g in groups]
        # step the partition down one budget at a time, highest group first
        new_part = sts_part
        allowed = max(1, mu)
        while new_part > spec_part:
            in_flight = sum(1 for i in range(new_part, sts_replicas) if not done[i])
            if in_flight >= allowed:
                break
            new_part -= 1
        new_part = max(new_part, spec_part)
        new_part = min(new_part, R) if new_part > R else new_part
        # surge reclaim (only once the rollout is complete with partition 0) and plain scaling; a maxSurge
        # lowered mid-rollout (e.g. `rollout pause` sets 0) caps the surge at once, as the real controller's
        # burst replicas (R + maxSurge) do
        new_replicas = R + min(surge_now, ms)
        if surge_now and spec_part == 0 and all(done[i] for i in range(R)):
            new_replicas = R
        if new_replicas != sts_replicas or new_part != sts_part or applied != R:
            if new_replicas < sts_replicas:
                lo, hi = new_replicas, sts_replicas - 1
                msg = f"deleting surge replica {name}-{lo}" if lo == hi else \
                    f"deleting surge replicas from {name}-{lo} to {name}-{hi}"
                events.emit(self.store, lws, "GroupsProgressing", msg, action="Delete")
            self._write_sts(sts, lws, rkey, None, new_replicas, new_part, R)
            self._partition_event(lws, sts_part, new_part)
        # history truncation once the rollout is complete with partition 0
        if spec_part == 0 and new_replicas == R and all(done[i] for i in range(R)):
            for cr in self._revisions(lws):
                if cr["metadata"].get("labels", {}).get(wh.REVISION) != rkey:
                    self.store.delete(CR, ns, cr["metadata"]["name"])
        self._update_status(lws, R, spec_part)

    def _write_sts(self, sts: dict, lws: dict, key: str, rspec: dict | None, replicas: int, partition: int,
                   applied: int) -> None:
        new = copy.deepcopy(sts)
        meta = self._sts_meta(lws, key, applied)
        new["metadata"]["labels"] = meta["labels"]
        new["metadata"]["annotations"] = meta["annotations"]
        new["spec"]["replicas"] = replicas
        new["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
        if rspec is not None:
            new["spec"]["template"] = self._leader_template(lws, rspec, key)
        if new != sts:
            self.store.update(STS, new)

    def _partition_event(self, lws: dict, old: int, new: int) -> None:
        if old == new:
            return
        msg = f"Updating replica {new}" if new == old - 1 else f"Updating replicas {new} to {old - 1} (inclusive)"
        events.emit(self.store, lws, "GroupsUpdating", msg, action="Update")

    # ---------------------------------------------------------------------------------------- status
    def _update_status(self, lws: dict, R: int, spec_part: int) -> None:
        meta = lws["metadata"]
        ns, name = meta["namespace"], meta["name"]
        sts = self.store.get(STS, ns, name)
        rkey = revision_key(lws)
        sts_replicas = int((sts or {}).get("spec", {}).get("replicas", 0)) if sts else 0
        groups = [GroupView(self.store, ns, name, i, rkey) for i in range(max(sts_replicas, R))]
        ready = sum(1 for g in groups[:max(sts_replicas, 0)] if g.ready)
        updated = sum(1 for g in groups[:max(sts_replicas, 0)] if g.updated)
        all_ready = all(g.ready for g in groups[:R]) and all(g.ready for g in groups[:sts_replicas])
        # only a real rollout (an older revision still exists) counts; a brand-new LWS never shows it (v0.6.1)
        uip = len(self._revisions(lws)) > 1 and any(not groups[i].updated for i in range(min(spec_part, R), R))
        avail = all(g.ready for g in groups[:R]) and not uip
        prog = not all_ready
        gen = meta.get("generation", 1)
        old_status = lws.get("status") or {}
        conds = copy.deepcopy(old_status.get("conditions") or [])
        by_type = {c["type"]: c for c in conds}
        want: dict[str, bool | None] = {"Available": avail, "Progressing": prog and not avail,
                                        "UpdateInProgress": uip if (uip or avail) else None}
        if avail:
            want["Progressing"] = False
        became_true = []
        now = now_iso()
        for t in ("Progressing", "Available", "UpdateInProgress"):
            w = want[t]
            if w is None:
                continue
            reason, message = COND_TEXT[t]
            cur = by_type.get(t)
            s = "True" if w else "False"
            if cur is None:
                if not w:
                    continue
                cur = {"lastTransitionTime": now, "message": message, "observedGeneration": gen, "reason": reason,
                       "status": s, "type": t}
                conds.append(cur)
                by_type[t] = cur
                became_true.append(t)
            elif cur["status"] != s:
                cur.update(status=s, lastTransitionTime=now)
                if w:
                    became_true.append(t)
            cur["observedGeneration"] = gen
        status: dict = {"conditions": conds,
                        "hpaPodSelector": f"{wh.NAME}={name},{wh.WORKER_INDEX}=0",
                        "observedGeneration": gen}
        sts_status_replicas = int(((sts or {}).get("status") or {}).get("replicas", 0))
        for k, v in (("readyReplicas", ready), ("replicas", sts_status_replicas), ("updatedReplicas", updated)):
            if v:
                status[k] = v
        if status != old_status:
            new = copy.deepcopy(lws)
            new["status"] = status
            self.store.update(LWS, new, subresource="status")
            for t in became_true:
                reason, message = COND_TEXT[t]
                events.emit(self.store, lws, reason, f"{message}, with {ready} groups ready of total {R} groups",
                            action="Update")

    def settled(self) -> bool:
        """Every LWS's status matches its pods (nothing left to do for this controller)."""
        for lws in self.store.list(LWS):
            st = lws.get("status") or {}
            if st.get("observedGeneration") != lws["metadata"].get("generation"):
                return False
        return True


def headless_service(ns: str, name: str, labels: dict, selector: dict, owner: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner]},
            "spec": {"selector": selector, "clusterIP": "None", "clusterIPs": ["None"], "type": "ClusterIP",
                     "sessionAffinity": "None", "publishNotReadyAddresses": True, "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}}}
