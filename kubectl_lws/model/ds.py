"""A DisaggregatedSet as one object: its roles, slices, child LWS per revision, rollout and health.

Why derived from the children: LWS v0.10.0 never writes the DisaggregatedSet's ``.status`` (golden F.1)
and a stalled rollout produces no DS event or condition at all (F.3). Later controllers write
``observedGeneration``, ``roleStatuses[]`` and exclusive ``Available``/``Progressing`` conditions; when
they are there and current they give the base verdict, and the children still decide what the
controller cannot see: a rollout that stalls, groups that fail, a slice that cannot serve.

Facts (kubernetes-sigs/lws ``pkg/controllers/disaggregatedset``, golden ``ds/``):

* one child LWS per slice, revision and role, named ``<ds>-<slice>-<rev8>-<role>`` (v0.9 sets:
  ``<ds>-<rev8>-<role>``, no slice label), labelled ``disaggregatedset.x-k8s.io/{name,role,slice,revision}``,
  owned by the DS (``controller: true``); its pods carry the same labels;
* the revision hashes every role's ``leaderWorkerTemplate`` together; the controller computes it over Go
  structs, so it cannot be recomputed here: the target revision is the one whose children's templates
  are the roles' templates (see ``target_revision``);
* a rollout scales the new revision up from 0 and the old one down, per slice; the old LWS carry
  ``initial-replicas``; an old revision's LWS are deleted when all its roles reach 0;
* a ``<child>-prv`` headless Service exists once that revision of the slice has a ready group per role;
* an External role's replicas come from its ``DisaggregatedSetRoleScaler`` ``<ds>-<role>``.

Pure: the command reads, this decides. Every child LWS (and each of its groups) gets the one verdict,
``model.verdict.judge``, as ``status`` gives it; this module adds only what is the set's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from kubectl_lws.model import health as H
from kubectl_lws.model import keys
from kubectl_lws.model.causes import for_text
from kubectl_lws.model.groups import LwsView, _int_or, lws_view, pods_by_lws
from kubectl_lws.model.health import Assessment, GroupHealth
from kubectl_lws.model.timeutil import age_seconds, utc_now
from kubectl_lws.model.verdict import Facts, assess_pods, events_needed, judge

STATIC = "Static"
EXTERNAL = "External"
STALLED = "Stalled"
# DS states, most severe first (health's words where they mean the same thing).
DS_STATES = (H.UNAVAILABLE, STALLED, H.DEGRADED, H.PROGRESSING, H.SCALING, H.HEALTHY)


# ---- the DS object ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoleSpec:
    """One ``spec.roles[]`` entry with the CRD's defaults applied."""

    name: str
    index: int
    mode: str                 # Static | External
    replicas: int             # per slice, as written (ignored by the controller for External roles)
    size: int
    max_surge: Any
    max_unavailable: Any
    template: dict = field(repr=False, compare=False)  # the role's leaderWorkerTemplate

    def images(self, which: str) -> list[str]:
        """Images of the role's ``leader`` or ``worker`` pod template (the worker's when no leader one)."""
        tmpl = self.template.get(f"{which}Template") or (self.template.get("workerTemplate") if which == "leader"
                                                          else None) or {}
        return [c.get("image", "") for c in (tmpl.get("spec") or {}).get("containers") or [] if c.get("image")]


@dataclass(frozen=True)
class DsView:
    """The fields of a DisaggregatedSet the plugin reasons about."""

    name: str
    namespace: str
    uid: str
    generation: int
    slices: int
    placement_type: str
    placement_topology: str | None
    roles: tuple[RoleSpec, ...]
    status: dict
    observed_generation: int | None
    creation_timestamp: str | None
    raw: dict = field(repr=False, compare=False)

    def role(self, name: str) -> RoleSpec | None:
        return next((r for r in self.roles if r.name == name), None)

    @property
    def role_names(self) -> list[str]:
        return [r.name for r in self.roles]

    def scaler_name(self, role: str) -> str:
        """The role scaler the controller makes for an External role: ``<ds>-<role>``."""
        return f"{self.name}-{role}"

    @property
    def conditions(self) -> list[dict]:
        return list(self.status.get("conditions") or [])

    def condition(self, ctype: str) -> dict | None:
        return next((c for c in self.conditions if c.get("type") == ctype), None)

    def role_status(self, role: str) -> dict | None:
        return next((r for r in self.status.get("roleStatuses") or [] if r.get("name") == role), None)

    @property
    def status_written(self) -> bool:
        """The controller writes status (after v0.10.0): observedGeneration or conditions present."""
        return bool(self.status.get("conditions")) or self.observed_generation is not None

    @property
    def status_current(self) -> bool:
        """Written and about the spec as it is now (observedGeneration == generation)."""
        if not self.status_written:
            return False
        observed = self.observed_generation
        if observed is None:  # conditions carry their own observedGeneration
            gens = [_int_or(c.get("observedGeneration")) for c in self.conditions]
            observed = max((g for g in gens if g is not None), default=None)
        return observed is not None and observed >= self.generation


def check_scope(view: DsView, roles: Sequence[str], slices: Sequence[int], present: Iterable[int] = ()) -> None:
    """``--role`` and ``--slice`` name what the set has (the spec's slices and any a child LWS still runs, as
    while slices are removed): else a usage error (exit 2) naming what exists, before anything else is read."""
    from kubectl_lws.errors import UsageError
    from kubectl_lws.model.logsel import describe_indexes

    for role in roles:
        if view.role(role) is None:
            raise UsageError(f'role "{role}" does not exist in disaggregatedset "{view.name}" '
                             f"(roles: {', '.join(view.role_names)})")
    have = sorted(set(range(view.slices)) | set(present))
    for s in slices:
        if s not in have:
            raise UsageError(f'slice {s} does not exist in disaggregatedset "{view.name}" '
                             f"(slices: {describe_indexes(have) if have else 'none'})")


def ds_view(obj: dict) -> DsView:
    """Read a DisaggregatedSet dict; missing fields get the CRD defaults (replicas 1, slices 1, Static)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    placement = spec.get("placementPolicy") or {}
    roles = []
    for i, role in enumerate(spec.get("roles") or []):
        rspec = role.get("spec") or {}
        lwt = rspec.get("leaderWorkerTemplate") or {}
        ruc = (rspec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
        roles.append(RoleSpec(
            name=str(role.get("name", "")), index=i,
            mode=((role.get("scaling") or {}).get("mode") or STATIC),
            replicas=_int_or(rspec.get("replicas"), 1) or 0,
            size=_int_or(lwt.get("size"), 1) or 1,
            # the controller's defaults when a role gives no rolloutStrategy (golden F.2: surge 1, unavailable 0)
            max_surge=ruc.get("maxSurge", 1 if not ruc else 0),
            max_unavailable=ruc.get("maxUnavailable", 0 if not ruc else 1),
            template=lwt))
    return DsView(
        name=meta.get("name", ""), namespace=meta.get("namespace", ""), uid=meta.get("uid", ""),
        generation=_int_or(meta.get("generation"), 0) or 0,
        slices=_int_or(spec.get("slices"), 1) or 1,
        placement_type=placement.get("type") or "None", placement_topology=placement.get("topology"),
        roles=tuple(roles), status=status, observed_generation=_int_or(status.get("observedGeneration")),
        creation_timestamp=meta.get("creationTimestamp"), raw=obj)


# ---- which LWS belong to which DS ----------------------------------------------------------------

@dataclass(frozen=True)
class ChildRef:
    """What a child LWS's labels and owner say: its DisaggregatedSet, role, slice and revision."""

    ds: str
    role: str
    slice: int
    revision: str
    controlled: bool  # an ownerReference with controller: true names the DS

    def describe(self) -> str:
        """``owned by DisaggregatedSet X, role R, slice S, revision H`` (every view says it the same way)."""
        return (f"owned by DisaggregatedSet {self.ds}, role {self.role}, slice {self.slice}, "
                f"revision {self.revision}")

    def to_json(self) -> dict:
        """A child LWS's ``owner`` in every JSON document (status, list, map, record, history)."""
        return {"kind": keys.DS_KIND, "name": self.ds, "role": self.role, "slice": self.slice,
                "revision": self.revision}


def child_ref(lws: dict) -> ChildRef | None:
    """The DS an LWS belongs to, or None for a standalone LWS. The name label decides (the controller
    sets it on every child); a v0.9 child without the slice label is slice 0."""
    meta = lws.get("metadata") or {}
    lab = meta.get("labels") or {}
    ds = lab.get(keys.DS_NAME_LABEL)
    if not ds:
        return None
    owners = meta.get("ownerReferences") or []
    controlled = any(o.get("kind") == keys.DS_KIND and o.get("name") == ds and o.get("controller")
                     for o in owners)
    return ChildRef(ds=ds, role=lab.get(keys.DS_ROLE_LABEL, ""),
                    slice=_int_or(lab.get(keys.DS_SLICE_LABEL), 0) or 0,
                    revision=lab.get(keys.DS_REVISION_LABEL, ""), controlled=controlled)


def initial_replicas(lws: dict) -> int | None:
    """``disaggregatedset.x-k8s.io/initial-replicas`` (put on the old LWS when a rollout starts)."""
    value = ((lws.get("metadata") or {}).get("annotations") or {}).get(keys.DS_INITIAL_REPLICAS_ANNOTATION)
    return _int_or(value)


# ---- the target revision -----------------------------------------------------------------------------

_DS_LABEL_PREFIX = keys.DS_GROUP + "/"


def _comparable(template: dict) -> str:
    """A leaderWorkerTemplate as the DS and its child hold it, without what the controller adds to the
    child: the DS labels (and ``app``) on the pod templates and the placement affinity."""
    t = json.loads(json.dumps(template or {}))
    for key in ("leaderTemplate", "workerTemplate"):
        tmpl = t.get(key)
        if not isinstance(tmpl, dict):
            continue
        meta = tmpl.get("metadata") or {}
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items()
                          if not k.startswith(_DS_LABEL_PREFIX) and k != "app"}
        if not meta["labels"]:
            meta.pop("labels")
        tmpl["metadata"] = meta
        if isinstance(tmpl.get("spec"), dict):
            tmpl["spec"].pop("affinity", None)
    return json.dumps(t, sort_keys=True)


def target_revision(view: DsView, children: Sequence[tuple[ChildRef, dict]]) -> tuple[str | None, str]:
    """(revision, how it was found).

    ``template``: the revision whose every child runs its role's template as the DS spec has it now
    (the controller's hash covers exactly these templates). ``newest``: no revision matches (the spec
    changed and the controller has not made the new LWS yet, or a mutating webhook changed the
    templates): the revision of the newest child. ``none``: no child at all.
    """
    if not children:
        return None, "none"
    wanted = {r.name: _comparable(r.template) for r in view.roles}
    by_rev: dict[str, list[tuple[ChildRef, dict]]] = {}
    for ref, lws in children:
        by_rev.setdefault(ref.revision, []).append((ref, lws))
    matching = [rev for rev, items in by_rev.items()
                if all(wanted.get(ref.role) == _comparable(((lws.get("spec") or {}).get("leaderWorkerTemplate"))
                                                         or {}) for ref, lws in items)]
    if len(matching) == 1:
        return matching[0], "template"

    def newest(rev: str) -> str:
        return max(((lws.get("metadata") or {}).get("creationTimestamp") or "") for _, lws in by_rev[rev])

    candidates = matching or list(by_rev)
    return max(candidates, key=newest), "newest" if not matching else "template"


# ---- assessing the whole set -----------------------------------------------------------------------------

@dataclass
class Child:
    """One child LWS with the one verdict on it (``a``: ``model.verdict.judge``'s Assessment; ``facts``: what
    it was judged from, so that events read later can be added and the child judged again)."""

    ref: ChildRef
    a: Assessment
    initial_replicas: int | None
    prv: bool
    target: bool
    facts: Facts | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.a.view.name

    @property
    def view(self) -> LwsView:
        return self.a.view

    @property
    def replicas(self) -> int:
        """spec.replicas: what the DS controller asks of this LWS now."""
        return self.a.view.replicas

    @property
    def ready(self) -> int:
        """Groups ready (leader and every worker Running and Ready), from the pods."""
        return self.a.ready

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.ref.role, "slice": self.ref.slice, "revision": self.ref.revision,
                "target": self.target, "replicas": self.replicas, "ready": self.ready,
                "current": self.a.current, "statusReady": self.view.status.get("readyReplicas", 0),
                "initialReplicas": self.initial_replicas, "prv": self.prv, "state": self.a.state,
                "reason": self.a.reason}


@dataclass
class Scaler:
    """The DisaggregatedSetRoleScaler of an External role, as read."""

    name: str
    desired: int | None       # spec.replicas (what the controller gives every... the role, per slice)
    current: int | None       # status.replicas (LWS groups of the role, all revisions)
    ready: str | None         # the Ready condition's status

    def to_json(self) -> dict:
        return {"name": self.name, "desired": self.desired, "current": self.current, "ready": self.ready}


def scaler_of(obj: dict) -> Scaler:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return Scaler((obj.get("metadata") or {}).get("name", ""), _int_or(spec.get("replicas")),
                  _int_or(status.get("replicas")), ready)


@dataclass
class RoleState:
    """One role over every slice and revision."""

    spec: RoleSpec
    per_slice: int | None      # desired groups per slice (None: External without a scaler yet)
    desired: int | None        # per slice x slices
    ready: int                 # ready groups, every revision (they all serve)
    updated: int               # ready groups of the target revision
    current: int               # groups with a live leader, every revision
    scaler: Scaler | None = None
    hpas: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self, view: DsView) -> dict:
        return {"name": self.name, "mode": self.spec.mode, "replicasPerSlice": self.per_slice,
                "desired": self.desired, "ready": self.ready, "updated": self.updated, "current": self.current,
                "size": self.spec.size, "maxSurge": self.spec.max_surge, "maxUnavailable": self.spec.max_unavailable,
                "scaler": self.scaler.to_json() if self.scaler else None, "hpas": list(self.hpas),
                "images": {"leader": self.spec.images("leader"), "worker": self.spec.images("worker")},
                "status": view.role_status(self.name)}


@dataclass
class SliceState:
    """One slice: the revisions present, and per role the old and the new revision's groups."""

    index: int
    revisions: list[str]        # oldest first; the target (when present) last
    rolling: bool               # an old revision still has groups, or the new one is not at its count yet
    roles: dict[str, dict] = field(default_factory=dict)  # role -> {old, oldReady, new, newReady, desired}
    removed: bool = False       # a slice above spec.slices, being deleted

    def to_json(self) -> dict:
        return {"slice": self.index, "revisions": list(self.revisions), "rolling": self.rolling,
                "removed": self.removed, "roles": self.roles}


@dataclass
class Stall:
    """A rollout whose new revision has not become ready for ``--stuck-after``, and why (health model)."""

    seconds: float
    child: str
    role: str
    slice: int
    group: int
    label: str               # the group's "State: reason" from the health model
    cause: dict | None       # the group's cause from events (model/events.Cause.to_json), when read

    def to_json(self) -> dict:
        return {"seconds": int(self.seconds), "lws": self.child, "role": self.role, "slice": self.slice,
                "group": self.group, "groupState": self.label, "cause": self.cause}


@dataclass
class DsAssessment:
    """Everything the views show about one DisaggregatedSet."""

    view: DsView
    state: str
    reason: str
    state_source: str           # "conditions" (written and current) or "children"
    target_revision: str | None
    target_source: str
    children: list[Child]
    roles: list[RoleState]
    slices: list[SliceState]
    stall: Stall | None
    stuck_after: float
    events_info: dict | None = None
    scalers_read: bool = False

    @property
    def rolling(self) -> bool:
        return any(s.rolling for s in self.slices)

    @property
    def healthy(self) -> bool:
        return self.state == H.HEALTHY and all(g.healthy for c in self.children for g in c.a.groups)

    def ratio(self) -> tuple[str, str]:
        """``prefill:decode`` serving now (ready groups) and as desired, e.g. ``("3:4", "4:4")``."""
        now = ":".join(str(r.ready) for r in self.roles)
        want = ":".join("?" if r.desired is None else str(r.desired) for r in self.roles)
        return now, want

    def child(self, name: str) -> Child | None:
        return next((c for c in self.children if c.name == name), None)

    def children_of(self, *, role: str | None = None, slice_: int | None = None,
                    revision: str | None = None) -> list[Child]:
        return [c for c in self.children if (role is None or c.ref.role == role)
                and (slice_ is None or c.ref.slice == slice_) and (revision is None or c.ref.revision == revision)]


def children_of(ds_name: str, lws_items: Iterable[dict]) -> list[tuple[ChildRef, dict]]:
    """The LWS of ``lws_items`` that belong to DS ``ds_name`` (by its name label)."""
    out = []
    for lws in lws_items:
        ref = child_ref(lws)
        if ref is not None and ref.ds == ds_name:
            out.append((ref, lws))
    return out


def hpas_on_scaler(hpas: Iterable[dict], scaler: str) -> list[str]:
    """HPAs whose scaleTargetRef is this role scaler."""
    out = []
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        api = ref.get("apiVersion", "")
        if ref.get("kind") == keys.DSRS_KIND and ref.get("name") == scaler and \
                (not api or api.split("/")[0] == keys.DS_GROUP):
            out.append((hpa.get("metadata") or {}).get("name", ""))
    return sorted(out)


def assess_ds(view: DsView, lws_items: Sequence[dict], pods: Sequence[dict], *,
              services: Sequence[dict] = (), scalers: Sequence[dict] | None = None,
              hpas: Sequence[dict] = (), nodes: dict[str, dict] | None = None, now: datetime | None = None,
              stuck_after: float = 300.0, assessed: dict[tuple[str, str], Assessment] | None = None) -> DsAssessment:
    """Assess every child LWS with the health model, then the roles, slices, rollout and the DS state.

    ``scalers`` None: not read (no External role); ``services``: the DS's ``-prv`` Services (or all);
    ``assessed``: (namespace, name) -> the health model's Assessment already made of a child (``list``).
    """
    now = now or utc_now()
    kids = children_of(view.name, lws_items)
    target, source = target_revision(view, kids)
    prv = {(s.get("metadata") or {}).get("name", "") for s in services}
    by_lws = pods_by_lws(pods)
    children: list[Child] = []
    for ref, obj in kids:
        lv = lws_view(obj)
        facts = None
        a = (assessed or {}).get((lv.namespace, lv.name))
        if a is None:
            facts = Facts(lv, by_lws.get((lv.namespace, lv.name), []), nodes, now=now, stuck_after=stuck_after)
            a = judge(facts, health=assess_pods(facts))
        children.append(Child(ref, a, initial_replicas(obj), f"{lv.name}{keys.DS_PRIVATE_SERVICE_SUFFIX}" in prv,
                              ref.revision == target, facts))
    order = {r.name: r.index for r in view.roles}
    children.sort(key=lambda c: (c.ref.slice, c.target, _created(c), c.ref.revision,
                                 order.get(c.ref.role, len(order)), c.ref.role))
    scaler_objs = {}
    for obj in scalers or []:
        lab = (obj.get("metadata") or {}).get("labels") or {}
        role = lab.get(keys.DS_ROLE_LABEL) or (obj.get("metadata") or {}).get("name", "")[len(view.name) + 1:]
        scaler_objs[role] = scaler_of(obj)
    roles = [_role_state(view, r, children, scaler_objs.get(r.name), hpas) for r in view.roles]
    da = DsAssessment(view=view, state=H.HEALTHY, reason="", state_source="children", target_revision=target,
                      target_source=source, children=children, roles=roles,
                      slices=_slices(view, children, roles, target), stall=None, stuck_after=stuck_after,
                      scalers_read=scalers is not None)
    decide(da, now)
    return da


def _created(c: Child) -> str:
    return c.view.creation_timestamp or ""


def _role_state(view: DsView, spec: RoleSpec, children: list[Child], scaler: Scaler | None,
                hpas: Sequence[dict]) -> RoleState:
    mine = [c for c in children if c.ref.role == spec.name and c.ref.slice < view.slices]
    if spec.mode == EXTERNAL:
        per_slice = scaler.desired if scaler is not None else None
        on = hpas_on_scaler(hpas, view.scaler_name(spec.name))
    else:
        per_slice, on = spec.replicas, []
    return RoleState(spec=spec, per_slice=per_slice,
                     desired=None if per_slice is None else per_slice * view.slices,
                     ready=sum(c.ready for c in mine), updated=sum(c.ready for c in mine if c.target),
                     current=sum(c.a.current for c in mine), scaler=scaler, hpas=on)


def _slices(view: DsView, children: list[Child], roles: list[RoleState], target: str | None) -> list[SliceState]:
    indexes = sorted({c.ref.slice for c in children} | set(range(view.slices)))
    want = {r.name: r.per_slice for r in roles}
    out = []
    for s in indexes:
        mine = [c for c in children if c.ref.slice == s]
        revs: list[str] = []
        for c in mine:  # children are sorted: old revisions first, the target last
            if c.ref.revision not in revs:
                revs.append(c.ref.revision)
        per_role: dict[str, dict] = {}
        rolling = False
        for r in view.roles:
            old = [c for c in mine if c.ref.role == r.name and not c.target]
            new = [c for c in mine if c.ref.role == r.name and c.target]
            desired = want.get(r.name)
            entry = {"old": sum(c.replicas for c in old), "oldReady": sum(c.ready for c in old),
                     "new": sum(c.replicas for c in new), "newReady": sum(c.ready for c in new),
                     "desired": desired}
            per_role[r.name] = entry
            if entry["old"] > 0 and target is not None:
                rolling = True
        out.append(SliceState(s, revs, rolling, per_role, removed=s >= view.slices))
    return out


# ---- the verdict --------------------------------------------------------------------------------------

def decide(da: DsAssessment, now: datetime | None = None) -> DsAssessment:
    """Set ``da.state``/``reason`` (and the stall) from the conditions when written and current, and
    from the children always for what the controller cannot see. Re-run after events explained groups."""
    now = now or utc_now()
    view = da.view
    da.stall = _stall(da, now)
    derived, reason = _derived(da)
    cond_state = _from_conditions(view)
    if cond_state is not None and derived not in (H.UNAVAILABLE, STALLED, H.DEGRADED):
        da.state, da.reason = cond_state
        da.state_source = "conditions"
        if derived != H.HEALTHY and cond_state[0] == H.HEALTHY:
            da.reason += f" (pods: {reason})"  # the controller counts LWS status; the pods are stricter
    else:
        da.state, da.reason = derived, reason
        da.state_source = "children"
    return da


def _from_conditions(view: DsView) -> tuple[str, str] | None:
    """Available=True -> Healthy, Progressing=True -> Progressing (the controller's reason and message)."""
    if not view.status_current:
        return None
    for ctype, state in (("Available", H.HEALTHY), ("Progressing", H.PROGRESSING)):
        cond = view.condition(ctype)
        if cond is not None and cond.get("status") == "True":
            text = cond.get("message") or ""
            reason = cond.get("reason") or ""
            return state, f"{reason}: {text}" if reason and text else (reason or text)
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _derived(da: DsAssessment) -> tuple[str, str]:
    view = da.view
    live = [s for s in da.slices if not s.removed]
    desired_all = [r.desired for r in da.roles]
    if all(d == 0 for d in desired_all):
        left = sum(c.a.current for c in da.children)
        return (H.SCALING, f"scaling to 0 ({_plural(left, 'group')} left)") if left else (H.HEALTHY, "scaled to 0")
    # a slice serves when every role with groups wanted has a ready group in it (any revision)
    # (a role with no child LWS in a slice yet is being created: Scaling, below)
    dead = []
    for s in live:
        missing = []
        for r in da.roles:
            mine = [c for c in da.children if c.ref.slice == s.index and c.ref.role == r.name]
            if (r.per_slice or 0) > 0 and mine and sum(c.ready for c in mine) == 0:
                missing.append(r.name)
        if missing:
            dead.append((s.index, missing))
    failing = [(c, g) for c in da.children for g in c.a.groups if g.failing]
    if live and len(dead) == len(live):
        s, roles = dead[0]
        why = f"slice {s} has no ready {'/'.join(roles)} group"
        bad = _first_group(da, lambda c, g: not g.group_ready)
        if bad:
            why += f" ({bad})"
        return H.UNAVAILABLE, f"no slice can serve: {why}" + (f" (+{len(dead) - 1} more)" if len(dead) > 1 else "")
    target = da.target_revision
    if da.stall is not None:
        st = da.stall
        return STALLED, (f"rollout to {target} stalled for {_for(st.seconds)}: {st.role} slice {st.slice} "
                         f"group {st.group} {st.label}")
    if da.rolling:
        parts = []
        for s in live:
            if not s.rolling:
                continue
            per = ", ".join(f"{role} {v['newReady']}/{v['desired'] if v['desired'] is not None else '?'}"
                            for role, v in s.roles.items())
            parts.append(f"slice {s.index} {per}")
        return H.PROGRESSING, f"rolling out {target}: " + "; ".join(parts) + " new ready"
    if failing:
        c, g = failing[0]
        extra = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        return H.DEGRADED, f"{c.ref.role} slice {c.ref.slice} group {g.index} {g.label}{extra}"
    if dead:
        s, roles = dead[0]
        return H.DEGRADED, f"slice {s} has no ready {'/'.join(roles)} group" + \
            (f" (+{len(dead) - 1} more)" if len(dead) > 1 else "")
    scaling = []
    for s in da.slices:
        if s.removed:
            scaling.append(f"slice {s.index} being removed")
            continue
        for role, v in s.roles.items():
            if v["desired"] and not any(c.ref.slice == s.index and c.ref.role == role for c in da.children):
                scaling.append(f"slice {s.index} {role} not created yet")
            elif v["desired"] is not None and v["new"] != v["desired"]:
                scaling.append(f"slice {s.index} {role} {v['new']} -> {v['desired']}")
    if scaling:
        return H.SCALING, "; ".join(scaling[:3]) + (f" (+{len(scaling) - 3} more)" if len(scaling) > 3 else "")
    unready = [(c, g) for c in da.children for g in c.a.groups if not g.group_ready]
    total = sum(r.desired or 0 for r in da.roles)
    ready = sum(r.ready for r in da.roles)
    if unready:
        c, g = unready[0]
        return H.PROGRESSING, f"{ready}/{total} groups ready: {c.ref.role} slice {c.ref.slice} group {g.index} {g.label}"
    ratio_now, _ = da.ratio()
    return H.HEALTHY, f"{ready}/{total} groups ready ({':'.join(view.role_names)} {ratio_now}), revision {target}"


def _first_group(da: DsAssessment, pick: Any) -> str:
    for c in da.children:
        for g in c.a.groups:
            if pick(c, g):
                return f"{c.ref.role} slice {c.ref.slice} group {g.index} {g.label}"
    return ""


def _for(seconds: float) -> str:
    return for_text(seconds)


def _group_since(c: Child, g: GroupHealth, now: datetime) -> float:
    """How long a group has not been ready: its cause's first time (events), else its leader's age, else
    its LWS's age (a group with no pod at all)."""
    if g.cause is not None and g.cause.since is not None:
        return (now - g.cause.since).total_seconds()
    if g.age_seconds is not None:
        return g.age_seconds
    created = age_seconds(c.view.creation_timestamp, now)
    return created or 0.0


def _stall(da: DsAssessment, now: datetime) -> Stall | None:
    """A rolling slice whose target-revision groups have not been ready for ``stuck_after``: the longest
    such group names the cause (its health-model verdict; the controller itself says nothing, F.3)."""
    worst: tuple[float, Child, GroupHealth] | None = None
    for s in da.slices:
        if not s.rolling or s.removed:
            continue
        for c in da.children:
            if c.ref.slice != s.index or not c.target:
                continue
            for g in c.a.groups:
                if g.group_ready or g.index >= c.replicas:
                    continue
                held = _group_since(c, g, now)
                if worst is None or held > worst[0]:
                    worst = (held, c, g)
    if worst is None or worst[0] < da.stuck_after:
        return None
    held, c, g = worst
    return Stall(held, c.name, c.ref.role, c.ref.slice, g.index, g.label,
                 g.cause.to_json() if g.cause is not None else None)


def needs_events(da: DsAssessment) -> bool:
    """The verdict's rule (``verdict.events_needed``) on any child: a healthy, settled set keeps its 4 requests."""
    return any(events_needed(c.a) for c in da.children if c.facts is not None)


def explain(da: DsAssessment, events: Sequence[Any] | None, *, now: datetime | None = None,
            info: dict | None = None) -> DsAssessment:
    """Judge every child again with the namespace's events (normalised; None: they could not be read), as
    ``status`` judges an LWS, then decide the set again: a cause's first time dates a stall better than a
    pod's age."""
    now = now or utc_now()
    da.events_info = {**(info or {}), "read": events is not None}
    for c in da.children:
        if c.facts is None:
            continue
        c.facts.events = events
        c.facts.events_info = info
        c.a = judge(c.facts, health=c.a)
    for r in da.roles:
        mine = [c for c in da.children if c.ref.role == r.name and c.ref.slice < da.view.slices]
        r.ready = sum(c.ready for c in mine)
        r.updated = sum(c.ready for c in mine if c.target)
    return decide(da, now)


# ---- events -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DsEvent:
    """An event of a DisaggregatedSet's objects: the set, a role scaler, a child LWS (of any revision, also one
    deleted since) and its pods, StatefulSets and Services; ``group``/``worker`` as ``model.events`` finds them."""

    event: Any
    lws: str | None = None
    role: str | None = None
    slice: int | None = None
    revision: str | None = None
    group: int | None = None
    worker: int | None = None

    @property
    def scope(self) -> str:
        """``decode/s0/g1``, ``decode/s0`` (the child LWS), ``decode`` (its scaler) or ``-`` (the set)."""
        if self.role is None:
            return "-"
        out = self.role
        if self.slice is not None:
            out += f"/s{self.slice}"
        if self.group is not None:
            out += f"/g{self.group}"
        return out

    def to_json(self) -> dict:
        return {"role": self.role, "slice": self.slice, "revision": self.revision, "lws": self.lws,
                "group": self.group, "workerIndex": self.worker, **self.event.to_json()}


def child_name_ref(name: str, ds: str, roles: Sequence[str]) -> ChildRef | None:
    """Role, slice and revision from a child LWS's name (``<ds>-<slice>-<rev8>-<role>``, v0.9 ``<ds>-<rev8>-<role>``),
    for children deleted since (their events outlive them)."""
    import re

    for role in sorted(roles, key=len, reverse=True):
        m = re.fullmatch(rf"{re.escape(ds)}-(?:(\d+)-)?([0-9a-f]{{8}})-{re.escape(role)}", name)
        if m:
            return ChildRef(ds, role, int(m.group(1) or 0), m.group(2), True)
    return None


def events_of_ds(events: Iterable[Any], view: DsView, children: Sequence[ChildRef | tuple[ChildRef, dict]] = (),
                 *, others: Sequence[str] = ()) -> list[DsEvent]:
    """The events of the set and of everything it made, each with its role, slice, revision and group.

    ``children``: the child LWS known now (labels); children deleted since are found from the names events
    carry. ``others``: LWS in the namespace that are not the set's (their events stay theirs)."""
    from kubectl_lws.model.events import event_group

    events = list(events)
    refs: dict[str, ChildRef] = {}
    for item in children:
        ref, name = (item[0], item[1]["metadata"]["name"]) if isinstance(item, tuple) else (item, None)
        if name:
            refs[name] = ref
    for ev in events:
        if ev.kind == keys.LWS_KIND and ev.object_name not in refs:
            ref = child_name_ref(ev.object_name, view.name, view.role_names)
            if ref is not None:
                refs[ev.object_name] = ref
    scalers = {view.scaler_name(r): r for r in view.role_names}
    names = sorted(refs, key=len, reverse=True)
    foreign = [o for o in others if o not in refs]
    out = []
    for ev in events:
        if ev.kind == keys.DS_KIND:
            if ev.object_name == view.name:
                out.append(DsEvent(ev))
            continue
        if ev.kind == keys.DSRS_KIND:
            if ev.object_name in scalers:
                out.append(DsEvent(ev, role=scalers[ev.object_name]))
            continue
        if any(ev.object_name == o or ev.object_name.startswith(o + "-") for o in foreign):
            continue
        for name in names:
            ref = refs[name]
            if ev.kind == "Service" and ev.object_name == name + keys.DS_PRIVATE_SERVICE_SUFFIX:
                out.append(DsEvent(ev, name, ref.role, ref.slice, ref.revision))
                break
            if ev.object_name != name and not ev.object_name.startswith(name + "-"):
                continue
            where = event_group(ev, name)
            if where is not None:
                out.append(DsEvent(ev, name, ref.role, ref.slice, ref.revision, where[0], where[1]))
                break
    return out
