"""StatefulSet controller: Parallel pod management, start ordinals, partitioned RollingUpdate one pod at a
time (the MaxUnavailableStatefulSet gate is off, golden D2), its own ControllerRevisions (golden D1) and
status."""
from __future__ import annotations

import copy

from .. import webhooks
from . import events
from .base import Controller, controller_ref, owner_ref

STS = "statefulsets.apps"
CR = "controllerrevisions.apps"


# what kube-apiserver admission adds to every pod (golden pods.json), so `kubectl get pod -o yaml` looks real
POD_DEFAULTS = {
    "serviceAccountName": "default", "serviceAccount": "default", "priority": 0, "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300}],
}


def pod_ready(pod: dict) -> bool:
    if (pod.get("status") or {}).get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def ordinal(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, mgr):
        super().__init__(mgr)
        self._hash_cache: dict[tuple, str] = {}
        self._backoff: dict[tuple[str, str], float] = {}  # (ns, sts) -> next FailedCreate retry delay

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == STS:
            self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource == "pods":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "StatefulSet":
                self.enqueue((meta.get("namespace"), ref["name"]))

    # ---------------------------------------------------------------------------------------- revisions
    def _revision(self, sts: dict) -> str:
        """Ensure the STS's own ControllerRevision for its current template; returns ``<sts>-<hash>``."""
        meta = sts["metadata"]
        template = sts["spec"]["template"]
        ck = (meta["uid"], meta.get("generation"))
        h = self._hash_cache.get(ck)
        if h is None:
            h = self._hash_cache[ck] = webhooks.safe_hash(template)
            if len(self._hash_cache) > 100_000:
                self._hash_cache.clear()
        name = f"{meta['name']}-{h}"
        if self.store.get(CR, meta["namespace"], name) is None:
            existing = [self.store.get(r[0], r[1], r[2]) for r in self.mgr.index.dependents(meta["uid"]) if r[0] == CR]
            rev = max([c.get("revision", 0) for c in existing if c] or [0]) + 1
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels["controller.kubernetes.io/hash"] = h
            self.store.create(CR, {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                             "annotations": dict(meta.get("annotations") or {}),
                             "ownerReferences": [owner_ref(sts)]},
                "data": {"spec": {"template": {"$patch": "replace", **copy.deepcopy(template)}}},
                "revision": rev})
        return name

    def _template_for(self, sts: dict, revision: str) -> dict:
        cr = self.store.get(CR, sts["metadata"]["namespace"], revision)
        if cr is None:
            return copy.deepcopy(sts["spec"]["template"])
        tpl = copy.deepcopy(cr["data"]["spec"]["template"])
        tpl.pop("$patch", None)
        return tpl

    # ---------------------------------------------------------------------------------------- pods
    def _new_pod(self, sts: dict, ordinal_: int, revision: str) -> dict:
        meta = sts["metadata"]
        tpl = self._template_for(sts, revision)
        name = f"{meta['name']}-{ordinal_}"
        tmeta = tpl.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update({"apps.kubernetes.io/pod-index": str(ordinal_), "controller-revision-hash": revision,
                       "statefulset.kubernetes.io/pod-name": name})
        spec = tpl.get("spec") or {}  # _template_for already returned a private copy
        spec["hostname"] = name
        for k, v in POD_DEFAULTS.items():
            spec.setdefault(k, copy.deepcopy(v))
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                            "labels": labels, "annotations": dict(tmeta.get("annotations") or {}),
                            "ownerReferences": [owner_ref(sts)]},
               "spec": spec, "status": {"phase": "Pending"}}
        return pod

    def reconcile(self, key):
        ns, name = key
        sts = self.store.get(STS, ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts["spec"]
        update_rev = self._revision(sts)
        status = sts.get("status") or {}
        current_rev = status.get("currentRevision") or update_rev
        start = int((spec.get("ordinals") or {}).get("start", 0))
        replicas = int(spec.get("replicas", 1))
        partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0))
        pods = {}
        for res, pns, pname in self.mgr.index.dependents(sts["metadata"]["uid"]):
            if res == "pods":
                p = self.store.get("pods", pns, pname)
                if p is not None:
                    pods[pname] = p
        wanted = range(start, start + replicas)
        # create missing ordinals (Parallel), at the update revision from the partition up
        for o in wanted:
            pname = f"{name}-{o}"
            if pname in pods:
                continue
            if self.store.get("pods", ns, pname) is not None:
                continue  # a same-named pod of an older owner is still terminating
            rev = update_rev if o >= partition else current_rev
            pod = webhooks.admit_pod(self._new_pod(sts, o, rev), in_place=True)
            pod = webhooks.run_plugins(self.mgr.sandbox, "CREATE", "pods", pod, None)
            self._claims(sts, pod)
            if not self._admitted(sts, pod):
                continue
            try:
                created = self.store.create("pods", pod)
            except Exception:  # noqa: BLE001 - name race with a terminating pod: retry on its deletion
                continue
            pods[pname] = created
            events.emit(self.store, sts, "SuccessfulCreate", f"Create Pod {pname} in StatefulSet {name} successful",
                        action="Create", component="statefulset-controller", legacy=True)
        # condemned ordinals, highest first, and failed pods
        for pname, p in sorted(pods.items(), key=lambda kv: -ordinal(kv[0])):
            o = ordinal(pname)
            failed = (p.get("status") or {}).get("phase") in ("Failed", "Succeeded")
            if (o not in wanted or failed) and not p["metadata"].get("deletionTimestamp"):
                self.store.delete("pods", ns, pname)
                events.emit(self.store, sts, "SuccessfulDelete",
                            f"Delete Pod {pname} in StatefulSet {name} successful",
                            action="Delete", component="statefulset-controller", legacy=True)
        # rolling update: one pod at a time, highest ordinal first, wait for health
        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            live = {n: p for n, p in pods.items() if ordinal(n) in wanted}
            unhealthy = any(p["metadata"].get("deletionTimestamp") or not pod_ready(p) for p in live.values())
            if not unhealthy:
                for pname in sorted(live, key=lambda n: -ordinal(n)):
                    o = ordinal(pname)
                    if o < partition:
                        break
                    p = live[pname]
                    if p["metadata"]["labels"].get("controller-revision-hash") != update_rev:
                        self.store.delete("pods", ns, pname)
                        events.emit(self.store, sts, "SuccessfulDelete",
                                    f"Delete Pod {pname} in StatefulSet {name} successful",
                                    action="Delete", component="statefulset-controller", legacy=True)
                        break
        self._status(sts, pods, update_rev, current_rev, wanted)

    def _claims(self, sts: dict, pod: dict) -> None:
        """volumeClaimTemplates: a claim per pod (kept when it exists: Retain) and the pod's volume on it."""
        from .storage import PVC, claims_for

        for claim in claims_for(sts, pod["metadata"]["name"]):
            tname = claim["metadata"]["name"][: -len(pod["metadata"]["name"]) - 1]
            vols = pod["spec"].setdefault("volumes", [])
            if not any(v.get("name") == tname for v in vols):
                vols.append({"name": tname, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}})
            if self.store.get(PVC, claim["metadata"]["namespace"], claim["metadata"]["name"]) is None:
                try:
                    self.store.create(PVC, claim)
                except Exception:  # noqa: BLE001 - a race with another create: the claim is there
                    pass

    def _admitted(self, sts: dict, pod: dict) -> bool:
        """Quota and denying webhooks (sandbox/admission.py). A refusal is a ``FailedCreate`` Warning as
        kube-controller-manager words it (aggregated: count, lastTimestamp) and a retry with exponential
        back-off, as the real controller's rate-limited requeue does (golden events/: 12 in 10 s)."""
        from ..admission import check_pod
        from ..errors import ApiError

        key = (sts["metadata"]["namespace"], sts["metadata"]["name"])
        try:
            check_pod(self.mgr.sandbox, self.store, pod)
        except ApiError as e:
            events.emit(self.store, sts, "FailedCreate",
                        f"Create Pod {pod['metadata']['name']} in StatefulSet {key[1]} failed error: {e.message}",
                        type_="Warning", component="statefulset-controller", legacy=True, aggregate=True)
            backoff = self._backoff.get(key, 0.05)
            self._backoff[key] = min(backoff * 2, 20.0)
            self.mgr.later(self.mgr.delay(backoff), lambda: self.enqueue(key), track=False)
            return False
        self._backoff.pop(key, None)
        return True

    def _status(self, sts, pods, update_rev, current_rev, wanted):
        live = [p for n, p in pods.items() if self.store.get("pods", sts["metadata"]["namespace"], n) is not None]
        counted = [p for p in live if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in counted if pod_ready(p))
        updated = sum(1 for p in counted if p["metadata"]["labels"].get("controller-revision-hash") == update_rev)
        current = sum(1 for p in counted if p["metadata"]["labels"].get("controller-revision-hash") == current_rev)
        replicas = len(counted)
        if updated == len(wanted) and replicas == len(wanted):
            current_rev, current = update_rev, updated
        st = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": replicas,
              "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
              "currentRevision": current_rev, "updateRevision": update_rev, "collisionCount": 0,
              "availableReplicas": ready}
        st = {k: v for k, v in st.items() if v != 0 or k in ("replicas", "collisionCount")}
        if st != sts.get("status"):
            new = copy.deepcopy(sts)
            new["status"] = st
            self.store.update(STS, new, subresource="status")
