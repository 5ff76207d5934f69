"""Plans for changing a DisaggregatedSet: scale a role (Static or External), scale the slices, restart a group.

Pure, so the plan the user agrees to is computed, printed and tested without a cluster. The rules come from
the DisaggregatedSet's API and controller (golden ``ds/`` F.4-F.6):

* a Static role's count is ``spec.roles[i].spec.replicas`` (per slice); the CRD refuses (422) Static roles
  some at 0 and some above 0, so that is checked here before anything is sent;
* an External role's count is its ``DisaggregatedSetRoleScaler``'s ``spec.replicas`` (through ``/scale``,
  as ``kubectl scale dsrs/...`` does); an HPA on that scaler undoes a manual scale;
* ``spec.slices`` is 1..100, and more than 1 is refused while any role is External (webhook, alpha); a
  slice scale-down deletes the highest slices' LWS at once, without draining;
* a role change is applied to the child LWS in place (no rollout); any template change rolls every role, so
  a whole-role restart is refused: one group at a time, by deleting its leader, is what stays safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from kubectl_lws.errors import UsageError
from kubectl_lws.model.ds import EXTERNAL, STATIC, DsAssessment, DsView, RoleSpec, check_scope
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.plans import group_accelerators
from kubectl_lws.model.words import plural

MAX_SLICES = 100  # the CRD's maximum (and 1 its minimum)


def roles_named(view: DsView, names: Sequence[str]) -> list[RoleSpec]:
    """The roles ``--role`` names, in spec order; an unknown one is a usage error naming the roles."""
    out = []
    for name in names:
        role = view.role(name)
        if role is None:
            raise UsageError(f'role "{name}" does not exist in disaggregatedset "{view.name}" '
                             f"(roles: {', '.join(view.role_names)})")
        if role not in out:
            out.append(role)
    return sorted(out, key=lambda r: r.index)


def check_all_or_none(view: DsView, changed: Sequence[RoleSpec], replicas: int) -> None:
    """The DisaggregatedSet's rule (CRD validation): Static roles are all at 0 or all above 0."""
    statics = [r for r in view.roles if r.mode != EXTERNAL]
    after = {r.name: (replicas if r in changed else r.replicas) for r in statics}
    zero = sorted(n for n, v in after.items() if v == 0)
    above = sorted(n for n, v in after.items() if v > 0)
    if zero and above:
        together = " ".join(f"--role {r.name}" for r in statics)
        raise UsageError(f"Static roles must all be at 0 replicas or all above 0 (the DisaggregatedSet's rule; the "
                         f"API server refuses anything else): {', '.join(zero)} would be at 0 and "
                         f"{', '.join(f'{n} at {after[n]}' for n in above)}; scale them together: kubectl lws "
                         f"scale ds/{view.name} {together} --replicas {replicas}")


def _role_view(role: RoleSpec, replicas: int):  # noqa: ANN202 — an LwsView of the role's template
    return lws_view({"metadata": {"name": role.name}, "spec": {"replicas": replicas,
                                                             "leaderWorkerTemplate": role.template}})


def _gpus(role: RoleSpec) -> dict[str, int]:
    return group_accelerators(_role_view(role, 1))


def _capacity(roles_groups: Sequence[tuple[RoleSpec, int]]) -> str:
    """``3 groups, 6 pods, 16 nvidia.com/gpu`` for a number of groups of each role."""
    groups = sum(n for _, n in roles_groups)
    pods = sum(n * r.size for r, n in roles_groups)
    acc: dict[str, int] = {}
    for r, n in roles_groups:
        for k, v in _gpus(r).items():
            acc[k] = acc.get(k, 0) + v * n
    gpus = ", ".join(f"{v} {k}" for k, v in sorted(acc.items())) or "no GPUs requested"
    return f"{plural(groups, 'group')}, {plural(pods, 'pod')}, {gpus}"


@dataclass(frozen=True)
class RoleScalePlan:
    """``scale ds/NAME --role R --replicas N`` for Static roles: one JSON patch of the DS."""

    ds: str
    namespace: str
    slices: int
    roles: tuple[str, ...]
    current: tuple[int, ...]         # per slice, per role (the spec now)
    target: int                      # per slice
    resource_version: str = field(compare=False, default="")
    indexes: tuple[int, ...] = field(compare=False, default=())  # the roles' positions in spec.roles
    lines_: tuple[str, ...] = field(compare=False, default=())

    @property
    def direction(self) -> str:
        if all(c == self.target for c in self.current):
            return "none"
        return "down" if any(c > self.target for c in self.current) else "up"

    def key(self) -> tuple:
        return (self.roles, self.current, self.target)

    def json_patch(self) -> list[dict]:
        """Conditional on the DS's resourceVersion and on each role still being at its index."""
        ops: list[dict] = [{"op": "test", "path": "/metadata/resourceVersion", "value": self.resource_version}]
        for name, i in zip(self.roles, self.indexes):
            ops.append({"op": "test", "path": f"/spec/roles/{i}/name", "value": name})
            ops.append({"op": "add", "path": f"/spec/roles/{i}/spec/replicas", "value": self.target})
        return ops

    def lines(self) -> list[str]:
        return list(self.lines_)


def plan_role_scale(da: DsAssessment, roles: Sequence[RoleSpec], target: int) -> RoleScalePlan:
    """Static roles to ``target`` groups per slice: what each slice's child LWS gains or loses."""
    view = da.view
    if any(r.mode == EXTERNAL for r in roles):
        raise UsageError("an External role is scaled through its role scaler, a Static one in the spec: "
                         "give the External role alone")
    check_all_or_none(view, roles, target)
    lines: list[str] = []
    for r in roles:
        per = r.replicas
        if per == target:
            lines.append(f"{r.name}: stays at {target} per slice")
            continue
        delta = (target - per) * view.slices
        lines.append(f"{r.name}: {per} -> {target} groups per slice (x{view.slices} "
                     f"slice{'s' if view.slices != 1 else ''}: {per * view.slices} -> {target * view.slices}); "
                     + (f"adds {_capacity([(r, delta)])}" if delta > 0 else f"removes {plural(-delta, 'group')}"))
        if target < per:
            for c in da.children_of(role=r.name):
                if not c.target or c.ref.slice >= view.slices:
                    continue
                gone = sorted(g.index for g in c.a.groups if target <= g.index < per)
                if gone:
                    lines.append(f"  {c.name}: group{'s' if len(gone) > 1 else ''} "
                                 f"{','.join(map(str, gone))} deleted (the highest indexes go)")
    if da.rolling:
        lines.append(f"a rollout to {da.target_revision} is in progress: the controller brings the new revision to "
                     "the new count as it goes")
    return RoleScalePlan(view.name, view.namespace, view.slices, tuple(r.name for r in roles),
                         tuple(r.replicas for r in roles), target,
                         resource_version=(view.raw.get("metadata") or {}).get("resourceVersion", ""),
                         indexes=tuple(r.index for r in roles), lines_=tuple(lines))


@dataclass(frozen=True)
class SlicesPlan:
    """``scale ds/NAME --slices N``: one JSON patch of ``spec.slices``."""

    ds: str
    namespace: str
    current: int
    target: int
    removed: tuple[str, ...] = field(compare=False, default=())  # child LWS deleted at once
    resource_version: str = field(compare=False, default="")
    lines_: tuple[str, ...] = field(compare=False, default=())

    @property
    def direction(self) -> str:
        return "none" if self.current == self.target else "down" if self.target < self.current else "up"

    def key(self) -> tuple:
        return (self.current, self.target)

    def json_patch(self) -> list[dict]:
        return [{"op": "test", "path": "/metadata/resourceVersion", "value": self.resource_version},
                {"op": "add", "path": "/spec/slices", "value": self.target}]

    def lines(self) -> list[str]:
        return list(self.lines_)


def check_slices(view: DsView, target: int) -> None:
    if not 1 <= target <= MAX_SLICES:
        raise UsageError(f"--slices must be between 1 and {MAX_SLICES} (the DisaggregatedSet's limits), got {target}")
    external = [r.name for r in view.roles if r.mode == EXTERNAL]
    if target > 1 and external:
        raise UsageError(f"--slices {target}: more than one slice is not supported while a role has scaling.mode "
                         f"External ({', '.join(external)}; the DisaggregatedSet webhook refuses it, alpha restriction)")


def plan_slices(da: DsAssessment, target: int) -> SlicesPlan:
    view = da.view
    check_slices(view, target)
    current = view.slices
    lines = [f"slices {current} -> {target}"]
    removed: list[str] = []
    if target < current:
        gone = [c for c in da.children if c.ref.slice >= target]
        removed = [c.name for c in gone]
        groups = sum(c.a.current for c in gone)
        pods = sum(len(g.pods) for c in gone for g in c.a.groups)
        going = range(target, current)
        lines.append(f"{slice_words(going)} {'are' if len(going) > 1 else 'is'} deleted at once, without draining: "
                     "their LWS "
                     f"({len(gone)}), {plural(groups, 'group')} and {plural(pods, 'pod')} go together "
                     "(the controller deletes them; no rollout, no coordinated drain)")
        lines.extend(f"  {name}" for name in removed)
        lines.append(f"capacity: {target} of {current} slices remain")
    elif target > current:
        per = [(r, r.replicas if r.mode == STATIC else (next((x.per_slice for x in da.roles if x.name == r.name), 0)
                                                         or 0)) for r in view.roles]
        new = target - current
        lines.append(f"{slice_words(range(current, target))} {'are' if new > 1 else 'is'} created at the current "
                     "revision "
                     f"{da.target_revision or ''} with every role's full count "
                     f"({', '.join(f'{r.name} {n}' for r, n in per)} per slice): adds "
                     f"{_capacity([(r, n * new) for r, n in per])}".replace("  ", " "))
    return SlicesPlan(view.name, view.namespace, current, target, tuple(removed),
                      resource_version=(view.raw.get("metadata") or {}).get("resourceVersion", ""),
                      lines_=tuple(lines))


def slice_words(values: range) -> str:
    """``slice 2`` or ``slices 1-3``."""
    from kubectl_lws.model.logsel import describe_indexes

    return f"slice{'s' if len(values) > 1 else ''} {describe_indexes(values)}"


@dataclass(frozen=True)
class ExternalScalePlan:
    """An External role through its scaler's ``/scale`` (the count is per slice; slices is 1)."""

    ds: str
    namespace: str
    role: str
    scaler: str
    current: int
    target: int
    hpas: tuple[str, ...] = ()
    lines_: tuple[str, ...] = field(compare=False, default=())

    @property
    def direction(self) -> str:
        return "none" if self.current == self.target else "down" if self.target < self.current else "up"

    def lines(self) -> list[str]:
        return list(self.lines_)


def plan_external_scale(da: DsAssessment, role: RoleSpec, current: int, target: int,
                        hpas: Sequence[str] = ()) -> ExternalScalePlan:
    view = da.view
    scaler = view.scaler_name(role.name)
    lines = [f"{role.name} (External): scaler {scaler} replicas {current} -> {target}"]
    if target > current:
        lines.append(f"adds {_capacity([(role, (target - current) * view.slices)])}")
    elif target < current:
        for c in da.children_of(role=role.name):
            if c.target:
                gone = sorted(g.index for g in c.a.groups if target <= g.index < current)
                if gone:
                    lines.append(f"  {c.name}: groups {','.join(map(str, gone))} deleted (the highest indexes go)")
    for h in hpas:
        lines.append(f"HPA {h} targets scaler {scaler}: it will undo a manual scale")
    return ExternalScalePlan(view.name, view.namespace, role.name, scaler, current, target, tuple(hpas),
                             tuple(lines))


# ---- restart ------------------------------------------------------------------------------------------------

WHOLE_ROLE_REFUSED = ("restarting every group of a role is refused: the only way to re-create them all is a "
                      "template change, and any template change rolls every role of the DisaggregatedSet (its "
                      "revision hashes all roles' templates together); restart one group at a time with "
                      "--role ROLE -g N, or change the templates to roll the whole set")


def check_restart(view: DsView, role: str, slice_: int | None) -> int:
    """The role exists, and the slice (required when there are several) too: the slice to use."""
    roles_named(view, [role])
    if slice_ is None:
        if view.slices > 1:
            raise UsageError(f'disaggregatedset "{view.name}" has {view.slices} slices: give --slice '
                             f"(0-{view.slices - 1})")
        slice_ = 0
    check_scope(view, (), (slice_,))
    return slice_


def restart_child(da: DsAssessment, role: str, slice_: int | None, revision: str | None = None):  # noqa: ANN201
    """The child LWS whose group ``restart ds/NAME --role R -g N`` re-creates: the role's child at the target
    revision in the slice (``--slice``, required when there are several)."""
    view = da.view
    slice_ = check_restart(view, role, slice_)
    rev = revision or da.target_revision
    mine = [c for c in da.children if c.ref.role == role and c.ref.slice == slice_ and c.ref.revision == rev]
    if not mine:
        raise UsageError(f"no child LWS of role {role} in slice {slice_} at revision {rev} "
                         f"(disaggregatedset \"{view.name}\" has not created it yet)")
    return mine[0]
