"""DisaggregatedSet controller (LWS v0.10, ``pkg/controllers/disaggregatedset``; golden README section F).

Per DisaggregatedSet, in this order: delete the LWS and Services of removed slices; create, delete and
update the role scalers of ``scaling.mode: External`` roles; then per slice: delete old revisions whose
roles are all at 0 (together), roll to the target revision (one planner step per reconcile, only once the
new revision is ready on every role) or create/scale the target revision's LWS, and keep the ``-prv``
Services of revisions that have a ready group in every role; last, the scalers' and (if switched on) the
set's status. Events go through a client-go-like recorder (``SeriesRecorder``), so a rollout shows one Event
per reason with a series, and nothing is reported when a rollout stalls: the new revision's LWS just stays
not ready, as on a real cluster.

Status: v0.10.0 never writes ``.status`` (the default, ``sandbox.ds_status == "empty"``). With
``"written"`` (fault ``ds-status mode=written``, scenario key ``dsStatus``) it writes what LWS main writes:
``observedGeneration``, ``roleStatuses[]`` and mutually exclusive ``Available``/``Progressing`` conditions.
"""
from __future__ import annotations

import copy
from typing import Any

from kubectl_lws.model import keys as _k

from .. import dsapi, webhooks
from ..resources import DS, DSRS
from ..store import now_iso
from . import dsplan
from .base import Controller
from .common import LWS, intstr
from .events import SeriesRecorder

STATUS_MODES = ("empty", "written")
_AVAILABLE = ("Available", "AllRolesReady", "All roles have reached their desired replica count, ready and updated "
              "to the current revision")
_PROGRESSING = ("Progressing", "RolloutInProgress", "Not all roles have reached their desired replica count, ready "
                "and updated to the current revision")


def _replicas(lws: dict) -> int:
    v = (lws.get("spec") or {}).get("replicas")
    return 1 if v is None else int(v)


def _ready(lws: dict) -> int:
    return int((lws.get("status") or {}).get("readyReplicas") or 0)


def _label(obj: dict, key: str) -> str | None:
    return (obj["metadata"].get("labels") or {}).get(key)


class DisaggregatedSetController(Controller):
    """Keys: (namespace, DisaggregatedSet name)."""
    name = "disaggregatedset"

    def __init__(self, mgr):
        super().__init__(mgr)
        self.recorder = SeriesRecorder(mgr, "disaggregatedset")

    # ------------------------------------------------------------------------------------------- feed
    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == DS:
            if type_ != "DELETED":
                self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource in (LWS, "services", DSRS):
            owner = (meta.get("labels") or {}).get(_k.DS_NAME_LABEL)
            if owner:
                self.enqueue((meta.get("namespace"), owner))

    @property
    def status_mode(self) -> str:
        return getattr(self.mgr.sandbox, "ds_status", "empty")

    def settled(self) -> bool:
        """With a written status, every set's status has observed its generation."""
        if self.status_mode != "written":
            return True
        return all((ds.get("status") or {}).get("observedGeneration") == ds["metadata"].get("generation")
                   for ds in self.store.list(DS))

    # ---------------------------------------------------------------------------------------- helpers
    def _admit(self, operation: str, resource: str, obj: dict, old: dict | None) -> dict:
        """Writes go through the API server's admission (the LWS webhooks default the child LWS and fail
        while the webhook cannot be called), as the real controller's client calls do."""
        api = getattr(self.mgr.sandbox, "apiserver", None)
        if api is not None:
            return api.admit(operation, resource, obj, old)
        return webhooks.admit(self.mgr.sandbox, operation, resource, obj, old)

    def _owned(self, ds: dict, resource: str, extra: dict | None = None) -> list[dict]:
        """Objects of ``resource`` labelled with the set's name and controlled by it (uid), list order."""
        sel = {_k.DS_NAME_LABEL: ds["metadata"]["name"], **(extra or {})}
        uid = ds["metadata"]["uid"]
        return [o for o in self.store.list(resource, ds["metadata"]["namespace"], label_selector=sel)
                if any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences")
                       or [])]

    @staticmethod
    def _owner(ds: dict, block: bool = False) -> dict:
        ref = {"apiVersion": f"{_k.DS_GROUP}/{_k.DS_VERSION}", "kind": _k.DS_KIND, "name": ds["metadata"]["name"],
               "uid": ds["metadata"]["uid"], "controller": True}
        if block:
            ref["blockOwnerDeletion"] = True
        return ref

    def _scale(self, lws: dict, replicas: int) -> None:
        """A merge patch of ``spec.replicas`` on the LWS (no-op when equal)."""
        if _replicas(lws) == replicas:
            return
        new = copy.deepcopy(lws)
        new["spec"]["replicas"] = replicas
        self.store.update(LWS, self._admit("UPDATE", LWS, new, lws))

    def _delete_lws(self, lws: dict) -> None:
        meta = lws["metadata"]
        if self.store.get(LWS, meta["namespace"], meta["name"]) is not None:
            self.store.delete(LWS, meta["namespace"], meta["name"], propagation="Background")

    def _target(self, ds: dict, role: dict, scalers: dict[str, dict], current: int) -> int:
        """Static roles: ``spec.replicas`` (per slice); External roles: their scaler's ``spec.replicas``."""
        if dsapi.is_external(role):
            scaler = scalers.get(role["name"])
            return int((scaler.get("spec") or {}).get("replicas") or 0) if scaler is not None else current
        v = (role.get("spec") or {}).get("replicas")
        return 1 if v is None else int(v)

    # ------------------------------------------------------------------------------------------ reconcile
    def reconcile(self, key):
        ns, name = key
        ds = self.store.get(DS, ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        roles = dsapi.roles(ds)
        rev = dsplan.revision(roles)
        slices = dsapi.slices(ds)
        self._remove_slices(ds, slices)
        scalers = self._reconcile_scalers(ds)
        for s in range(slices):
            self._reconcile_slice(ds, s, rev, scalers)
        self._scaler_status(ds, scalers)
        if self.status_mode == "written":
            self._write_status(ds, rev, scalers)

    def _remove_slices(self, ds: dict, slices: int) -> None:
        """A slice scale-down deletes the removed slices' LWS at once (no drain) and their Services."""
        for lws in self._owned(ds, LWS):
            idx = _label(lws, _k.DS_SLICE_LABEL)
            if idx is None or not idx.isdigit() or int(idx) < slices:
                continue
            self._delete_lws(lws)
            self.recorder.record(ds, "LWSDeleted", f"Deleted LWS {lws['metadata']['name']} for removed slice {idx}",
                                 action="Delete")
        for svc in self._owned(ds, "services"):
            idx = _label(svc, _k.DS_SLICE_LABEL)
            if idx is not None and idx.isdigit() and int(idx) >= slices:
                self.store.delete("services", svc["metadata"]["namespace"], svc["metadata"]["name"])

    def _reconcile_slice(self, ds: dict, slice_: int, rev: str, scalers: dict[str, dict]) -> None:
        self._delete_drained(ds, slice_, rev)
        old, new = self._revisions(ds, slice_, rev)
        spec_roles = [r["name"] for r in dsapi.roles(ds)]
        total_old = sum(_replicas(g[r]) for g in old.values() for r in spec_roles if r in g)
        if old and total_old > 0:
            self._rollout(ds, slice_, rev, old, new, scalers)
        else:
            self._simple(ds, slice_, rev, new, scalers)
        self._services(ds, slice_, rev)

    def _revisions(self, ds: dict, slice_: int, rev: str) -> tuple[dict[str, dict[str, dict]], dict[str, dict]]:
        """The slice's live LWS as {old revision: {role: lws}} (newest revision first) and {role: lws} of the
        target revision; LWS being deleted count as neither."""
        old: dict[str, dict[str, dict]] = {}
        new: dict[str, dict] = {}
        for lws in self._owned(ds, LWS, {_k.DS_SLICE_LABEL: str(slice_)}):
            if lws["metadata"].get("deletionTimestamp"):
                continue
            r, role = _label(lws, _k.DS_REVISION_LABEL), _label(lws, _k.DS_ROLE_LABEL) or ""
            (new if r == rev else old.setdefault(r or "", {}))[role] = lws
        newest = sorted(old, key=lambda r: max(lws["metadata"]["creationTimestamp"] for lws in old[r].values()),
                        reverse=True)
        return {r: old[r] for r in newest}, new

    def _delete_drained(self, ds: dict, slice_: int, rev: str) -> None:
        """An old revision goes when every role of it is at 0 replicas, all its LWS together."""
        by_rev: dict[str, list[dict]] = {}
        for lws in self._owned(ds, LWS, {_k.DS_SLICE_LABEL: str(slice_)}):
            r = _label(lws, _k.DS_REVISION_LABEL)
            if r != rev:
                by_rev.setdefault(r or "", []).append(lws)
        for group in by_rev.values():
            if all(_replicas(lws) == 0 for lws in group):
                for lws in group:
                    self._delete_lws(lws)
                    self.recorder.record(ds, "LWSDeleted", f"Deleted drained LWS {lws['metadata']['name']}",
                                         action="Delete")

    # ------------------------------------------------------------------------------------- child LWS
    def _create_lws(self, ds: dict, role: dict, slice_: int, rev: str, replicas: int) -> dict | None:
        """The role's LWS for (slice, revision): the role's spec with ``replicas`` overridden, the DS labels on
        the LWS and both pod templates, placement affinities, owned by the set (controller, no block)."""
        meta = ds["metadata"]
        name = dsplan.child_name(meta["name"], slice_, rev, role["name"])
        if self.store.get(LWS, meta["namespace"], name) is not None:
            return None
        labels = dsplan.child_labels(meta["name"], slice_, rev, role["name"])
        spec = copy.deepcopy(role.get("spec") or {})
        spec["replicas"] = replicas
        lwt = spec.setdefault("leaderWorkerTemplate", {})
        policy = (ds.get("spec") or {}).get("placementPolicy")
        for tkey in ("workerTemplate", "leaderTemplate"):
            tpl = lwt.get(tkey)
            if tkey == "workerTemplate" and not isinstance(tpl, dict):
                tpl = lwt[tkey] = {}
            if not isinstance(tpl, dict):
                continue
            tmeta = tpl.setdefault("metadata", {})
            tmeta["labels"] = {**(tmeta.get("labels") or {}), **labels}
            dsplan.placement_affinity(tpl.setdefault("spec", {}), meta["name"], slice_, policy)
        rmeta = role.get("metadata") or {}
        obj_meta: dict[str, Any] = {"name": name, "namespace": meta["namespace"],
                                    "labels": {**(rmeta.get("labels") or {}), **labels},
                                    "ownerReferences": [self._owner(ds)]}
        if rmeta.get("annotations"):
            obj_meta["annotations"] = dict(rmeta["annotations"])
        obj = {"apiVersion": f"{_k.LWS_GROUP}/{_k.LWS_VERSION}", "kind": _k.LWS_KIND, "metadata": obj_meta,
               "spec": spec}
        return self.store.create(LWS, self._admit("CREATE", LWS, obj, None))

    def _simple(self, ds: dict, slice_: int, rev: str, current: dict[str, dict], scalers: dict[str, dict]) -> None:
        """Steady state: the target revision's LWS exist at their target replicas (no events)."""
        for role in dsapi.roles(ds):
            lws = current.get(role["name"])
            have = _replicas(lws) if lws is not None else 0
            want = self._target(ds, role, scalers, have)
            if lws is None:
                self._create_lws(ds, role, slice_, rev, want)
            else:
                self._scale(lws, want)

    # --------------------------------------------------------------------------------------- rollout
    def _budgets(self, ds: dict, names: list[str], scalers: dict[str, dict]) -> list[dsplan.Budget]:
        """Per role: maxSurge 1 / maxUnavailable 0 unless the role sets a rollingUpdateConfiguration (its
        values resolved against the role's target; a 0 maxUnavailable keeps the default surge)."""
        out = []
        by_name = {r["name"]: r for r in dsapi.roles(ds)}
        for name in names:
            role = by_name.get(name)
            ruc = dsapi.get_path(role, ("spec", "rolloutStrategy", "rollingUpdateConfiguration"))
            if role is None or not isinstance(ruc, dict):
                out.append(dsplan.Budget())
                continue
            total = self._target(ds, role, scalers, 0)
            surge = intstr(ruc.get("maxSurge", 0), total, True)
            unavail = intstr(ruc.get("maxUnavailable", 1), total, False)
            out.append(dsplan.Budget(surge, unavail) if unavail > 0 else
                       dsplan.Budget(surge if surge > 0 else 1, 0))
        return out

    def _rollout(self, ds: dict, slice_: int, rev: str, old: dict[str, dict[str, dict]], new: dict[str, dict],
                 scalers: dict[str, dict]) -> None:
        roles = dsapi.roles(ds)
        spec_names = [r["name"] for r in roles]
        if not new:
            self._start_rollout(ds, slice_, rev, old, roles)
            return
        for role in roles:  # a role added mid-rollout joins at 0
            if role["name"] not in new:
                created = self._create_lws(ds, role, slice_, rev, 0)
                if created is not None:
                    new[role["name"]] = created
        if any(_replicas(new[n]) != _ready(new[n]) for n in spec_names if n in new):
            return  # the new revision must be ready (ready == spec) on every role before the next step
        removed = sorted({r for group in old.values() for r in group} - set(spec_names))
        names = spec_names + removed
        source = [sum(_initial(g[n]) for g in old.values() if n in g) for n in names]
        cur_old = [sum(_replicas(g[n]) for g in old.values() if n in g) for n in names]
        cur_new = [_replicas(new[n]) if n in new else 0 for n in names]
        by_name = {r["name"]: r for r in roles}
        target = []
        for i, n in enumerate(names):
            if n not in by_name:
                target.append(0)
                continue
            t = self._target(ds, by_name[n], scalers, cur_new[i])
            if dsapi.is_external(by_name[n]) and t < cur_new[i]:
                t = cur_new[i]  # no shrink of an External role while the old revision drains
            target.append(t)
        step = dsplan.plan_step(source, cur_old, cur_new, target, self._budgets(ds, names, scalers))
        if step is None:  # never reached in practice: a drained old revision is deleted first (golden F.2)
            self.recorder.record(ds, "RollingUpdateCompleted", f"Completed rolling update to revision {rev}",
                                 action="Update")
            return
        want_old, want_new = step
        for i, n in enumerate(names):
            lws = new.get(n)
            if lws is not None and cur_new[i] < want_new[i]:
                self._scale(lws, want_new[i])
                self.recorder.record(ds, "ScalingUp", f"Scaling up {n} LWS {lws['metadata']['name']} from "
                                                      f"{cur_new[i]} to {want_new[i]} replicas", action="Update")
        revisions = [{r: (lws["metadata"]["name"], _replicas(lws)) for r, lws in g.items()} for g in old.values()]
        objects = {lws["metadata"]["name"]: lws for g in old.values() for lws in g.values()}
        for lws_name, role, frm, to in dsplan.drain_plan(revisions, names, cur_old, want_old):
            self._scale(objects[lws_name], to)
            self.recorder.record(ds, "ScalingDown", f"Scaling down {role} LWS {lws_name} from {frm} to {to} "
                                                    "replicas", action="Update")

    def _start_rollout(self, ds: dict, slice_: int, rev: str, old: dict[str, dict[str, dict]],
                       roles: list[dict]) -> None:
        """RollingUpdateStarted, the old LWS remember their replicas (initial-replicas), and the new revision's
        LWS are created at 0 for every role."""
        self.recorder.record(ds, "RollingUpdateStarted", f"Started rolling update to revision {rev}",
                             action="Update")
        for group in old.values():
            for lws in group.values():
                value = str(_replicas(lws))
                if (lws["metadata"].get("annotations") or {}).get(_k.DS_INITIAL_REPLICAS_ANNOTATION) == value:
                    continue
                new = copy.deepcopy(lws)
                new["metadata"].setdefault("annotations", {})[_k.DS_INITIAL_REPLICAS_ANNOTATION] = value
                self.store.update(LWS, self._admit("UPDATE", LWS, new, lws))
        for role in roles:
            self._create_lws(ds, role, slice_, rev, 0)

    # -------------------------------------------------------------------------------------- services
    def _services(self, ds: dict, slice_: int, rev: str) -> None:
        """``<lws>-prv`` for the target revision once every role has a ready group; then the Services of
        revisions that are neither the target nor ready on every role go (v0.10)."""
        meta = ds["metadata"]
        names = [r["name"] for r in dsapi.roles(ds)]
        by_rev: dict[str, dict[str, dict]] = {}
        for lws in self._owned(ds, LWS, {_k.DS_SLICE_LABEL: str(slice_)}):
            by_rev.setdefault(_label(lws, _k.DS_REVISION_LABEL) or "", {})[_label(lws, _k.DS_ROLE_LABEL) or ""] = lws
        ready = {r for r, group in by_rev.items() if all(n in group and _ready(group[n]) >= 1 for n in names)}
        if rev not in ready:
            return
        for n in names:
            svc_name = dsplan.child_name(meta["name"], slice_, rev, n) + _k.DS_PRIVATE_SERVICE_SUFFIX
            if self.store.get("services", meta["namespace"], svc_name) is not None:
                continue
            labels = dsplan.service_labels(meta["name"], slice_, rev, n)
            self.store.create("services", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": svc_name, "namespace": meta["namespace"], "labels": labels,
                             "ownerReferences": [self._owner(ds)]},
                "spec": {"selector": dict(labels), "clusterIP": "None", "clusterIPs": ["None"], "type": "ClusterIP",
                         "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                         "internalTrafficPolicy": "Cluster"},
                "status": {"loadBalancer": {}}})
        for svc in self._owned(ds, "services", {_k.DS_SLICE_LABEL: str(slice_)}):
            if _label(svc, _k.DS_REVISION_LABEL) not in ready:
                self.store.delete("services", meta["namespace"], svc["metadata"]["name"])

    # --------------------------------------------------------------------------------------- scalers
    def _reconcile_scalers(self, ds: dict) -> dict[str, dict]:
        """One DisaggregatedSetRoleScaler ``<ds>-<role>`` per External role; a role that is no longer
        External loses its scaler. A new scaler starts at 1 (the role's spec.replicas is ignored), or at the
        role's current replicas when a running Static role turns External."""
        meta = ds["metadata"]
        external = {r["name"] for r in dsapi.roles(ds) if dsapi.is_external(r)}
        out: dict[str, dict] = {}
        for scaler in self._owned(ds, DSRS):
            role = _label(scaler, _k.DS_ROLE_LABEL) or ""
            if role in external:
                out[role] = scaler
                continue
            self.store.delete(DSRS, meta["namespace"], scaler["metadata"]["name"])
            self.recorder.record(ds, "ScalerDeleted", f"Deleted scaler {scaler['metadata']['name']} (role {role} is "
                                                      "no longer External)", action="Delete")
        for role in sorted(external - set(out)):
            name = dsapi.scaler_name(meta["name"], role)
            existing = self.store.get(DSRS, meta["namespace"], name)
            if existing is not None:
                self.recorder.record(ds, "ScalerConflict", f"Scaler {name} exists but is not controlled by this "
                                                           "DisaggregatedSet; not adopting", action="Conflict",
                                     type_="Warning")
                continue
            running = self._owned(ds, LWS, {_k.DS_ROLE_LABEL: role})
            seed = sum(_replicas(lws) for lws in running) if running else 1
            obj = {"apiVersion": f"{_k.DS_GROUP}/{_k.DS_VERSION}", "kind": _k.DSRS_KIND,
                   "metadata": {"name": name, "namespace": meta["namespace"],
                                "labels": {_k.DS_NAME_LABEL: meta["name"], _k.DS_ROLE_LABEL: role},
                                "ownerReferences": [self._owner(ds, block=True)]},
                   "spec": {"replicas": seed}}
            out[role] = self.store.create(DSRS, self._admit("CREATE", DSRS, obj, None))
            self.recorder.record(ds, "ScalerCreated", f"Created scaler {name} for role {role}", action="Create")
        return out

    def _scaler_status(self, ds: dict, scalers: dict[str, dict]) -> None:
        """status: replicas = the role's LWS ``status.replicas`` over every slice and revision, the leader-pod
        selector HPA averages over, observedGeneration, Ready=True/Bound."""
        for role, scaler in scalers.items():
            scaler = self.store.get(DSRS, scaler["metadata"]["namespace"], scaler["metadata"]["name"]) or scaler
            observed = sum(int((lws.get("status") or {}).get("replicas") or 0)
                           for lws in self._owned(ds, LWS, {_k.DS_ROLE_LABEL: role}))
            gen = scaler["metadata"].get("generation", 1)
            old = scaler.get("status") or {}
            cond = next((c for c in old.get("conditions") or [] if c.get("type") == "Ready"), None)
            if cond is None or cond.get("status") != "True" or cond.get("reason") != "Bound":
                cond = {"lastTransitionTime": now_iso(), "message": "Scaler bound to a live DisaggregatedSet role",
                        "reason": "Bound", "status": "True", "type": "Ready"}
            cond = {**cond, "observedGeneration": gen}
            status: dict[str, Any] = {"conditions": [cond], "observedGeneration": gen}
            if observed:
                status["replicas"] = observed
            status["selector"] = (f"{_k.DS_NAME_LABEL}={ds['metadata']['name']},{_k.DS_ROLE_LABEL}={role},"
                                  f"{_k.WORKER_INDEX_LABEL}=0")
            if status != old:
                new = copy.deepcopy(scaler)
                new["status"] = status
                self.store.update(DSRS, new, subresource="status")

    # --------------------------------------------------------------------------------- written status
    def _write_status(self, ds: dict, rev: str, scalers: dict[str, dict]) -> None:
        """LWS main: per role the replicas, ready and updated (target revision) counts over every slice, and
        Available (all roles at target x slices, ready, updated) or else Progressing, exclusive."""
        current = self.store.get(DS, ds["metadata"]["namespace"], ds["metadata"]["name"])
        if current is None:
            return
        gen = current["metadata"].get("generation", 1)
        slices = dsapi.slices(current)
        available = True
        role_statuses = []
        for role in dsapi.roles(current):
            children = self._owned(current, LWS, {_k.DS_ROLE_LABEL: role["name"]})
            counts = {"replicas": 0, "readyReplicas": 0, "updatedReplicas": 0}
            for lws in children:
                st = lws.get("status") or {}
                counts["replicas"] += int(st.get("replicas") or 0)
                counts["readyReplicas"] += int(st.get("readyReplicas") or 0)
                if _label(lws, _k.DS_REVISION_LABEL) == rev:
                    counts["updatedReplicas"] += int(st.get("updatedReplicas") or 0)
            role_statuses.append({"name": role["name"], **{k: v for k, v in counts.items() if v}})
            if dsapi.is_external(role) and role["name"] not in scalers:
                available = False
                continue
            desired = self._target(current, role, scalers, 0) * slices
            if any(v != desired for v in counts.values()):
                available = False
        old = current.get("status") or {}
        conds = _set_exclusive(copy.deepcopy(old.get("conditions") or []), _AVAILABLE if available else _PROGRESSING,
                               gen)
        status = {"conditions": conds, "observedGeneration": gen, "roleStatuses": role_statuses}
        if status != old:
            new = copy.deepcopy(current)
            new["status"] = status
            self.store.update(DS, new, subresource="status")


def _initial(lws: dict) -> int:
    """An old LWS's baseline for the drain: its initial-replicas annotation, else its replicas."""
    v = (lws["metadata"].get("annotations") or {}).get(_k.DS_INITIAL_REPLICAS_ANNOTATION)
    return int(v) if v and v.lstrip("-").isdigit() else _replicas(lws)


def _set_exclusive(conds: list[dict], true_cond: tuple[str, str, str], gen: int) -> list[dict]:
    """Set ``true_cond`` True and its partner of the Available/Progressing pair False (with the same reason
    and message); lastTransitionTime moves only on a real flip, observedGeneration always follows."""
    ctype, reason, message = true_cond
    partner = "Progressing" if ctype == "Available" else "Available"
    now = now_iso()
    found = False
    for c in conds:
        if c.get("type") == ctype:
            found = True
            if c.get("status") != "True":
                c.update(status="True", lastTransitionTime=now)
            c.update(reason=reason, message=message, observedGeneration=gen)
        elif c.get("type") == partner:
            if c.get("status") == "True":
                c.update(status="False", lastTransitionTime=now, reason=reason, message=message)
            c["observedGeneration"] = gen
    if not found:
        conds.append({"lastTransitionTime": now, "message": message, "observedGeneration": gen, "reason": reason,
                      "status": "True", "type": ctype})
    return conds


__all__ = ["DisaggregatedSetController", "STATUS_MODES"]
