"""Text and JSON for a DisaggregatedSet: ``status ds/NAME``, its rows in ``list``, its watch lines.

Pure functions of ``model.ds.DsAssessment`` and a clock. Cluster text (names, images, reasons, messages)
goes through ``render.safe.term`` before any colour is added; JSON keeps it exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from kubectl_lws.model import ds as D
from kubectl_lws.model import health as H
from kubectl_lws.model.ds import Child, DsAssessment
from kubectl_lws.model.health import GroupHealth
from kubectl_lws.model.timeutil import age_seconds, rfc3339
from kubectl_lws.render.output import human_age, table
from kubectl_lws.render.safe import LINE, MESSAGE, Styled, style, term
from kubectl_lws.render.status import paint

KIND = "DisaggregatedSetStatus"
SCHEMA_NOTE = "see docs/disaggregatedset.md"


def _paint(text: str, state: str, color: bool) -> str:
    if state == D.STALLED:
        state = H.DEGRADED
    return paint(text, state, color)


# ---- JSON ----------------------------------------------------------------------------------------------

def group_json(c: Child, g: GroupHealth, *, with_pods: bool = True) -> dict:
    return {"lws": c.name, "role": c.ref.role, "slice": c.ref.slice, "lwsRevision": c.ref.revision,
            "target": c.target, **g.to_json(with_pods=with_pods)}


def status_doc(da: DsAssessment, *, shown: Sequence[tuple[Child, GroupHealth]] | None = None) -> dict:
    """The ``status ds/NAME -o json`` document (docs/disaggregatedset.md, "JSON")."""
    v = da.view
    now, want = da.ratio()
    groups = shown if shown is not None else [(c, g) for c in da.children for g in c.a.groups]
    return {
        "kind": KIND,
        "name": v.name,
        "namespace": v.namespace,
        "state": da.state,
        "reason": da.reason,
        "stateSource": da.state_source,
        "generation": v.generation,
        "observedGeneration": v.observed_generation,
        "statusWritten": v.status_written,
        "conditions": v.conditions,
        "targetRevision": da.target_revision,
        "targetRevisionSource": da.target_source,
        "slices": v.slices,
        "placementPolicy": {"type": v.placement_type, "topology": v.placement_topology},
        "roles": [r.to_json(v) for r in da.roles],
        "ratio": {"roles": v.role_names, "ready": now, "desired": want},
        "children": [c.to_json() for c in da.children],
        "rollout": {"inProgress": da.rolling, "slices": [s.to_json() for s in da.slices],
                    "stalled": da.stall is not None, "stuckAfterSeconds": int(da.stuck_after),
                    "stall": da.stall.to_json() if da.stall else None},
        "groups": [group_json(c, g) for c, g in groups],
        # null when events were not read (every group Ready): causes unknown, not absent
        "events": da.events_info,
    }


# ---- text ------------------------------------------------------------------------------------------------

def _rev(rev: str | None) -> str:
    return term(rev) if rev else "-"


def header_lines(da: DsAssessment, *, color: bool) -> list[str]:
    v = da.view
    now, want = da.ratio()
    if v.status_current:
        gen = f"{v.generation} (observed {v.observed_generation if v.observed_generation is not None else '?'}; "\
              f"state from the controller's conditions and the child LWS)"
    elif v.status_written:
        gen = (f"{v.generation} (status observed {v.observed_generation}: not current, state derived from the "
               "child LWS)")
    else:
        gen = f"{v.generation} (no status from the controller: state derived from the child LWS)"
    serving = [r for r in _revisions(da) if r != da.target_revision]
    revision = f"{_rev(da.target_revision)} (target)"
    if da.target_source == "newest":
        revision = f"{_rev(da.target_revision)} (newest child LWS; none matches the spec's templates yet)"
    if serving:
        revision += f", {', '.join(term(r) for r in serving)} still serving"
    placement = v.placement_type + (f" on {term(v.placement_topology)}" if v.placement_topology else "")
    rows = [
        ("Name", term(v.name)),
        ("Namespace", term(v.namespace)),
        ("Kind", f"DisaggregatedSet, roles {', '.join(term(r) for r in v.role_names)}"),
        ("State", _paint(da.state, da.state, color) + (f": {term(da.reason, LINE)}" if da.reason else "")),
        ("Generation", gen),
        ("Revision", revision),
        ("Slices", f"{v.slices} (placement {placement})"),
        ("Ratio", f"{':'.join(term(r) for r in v.role_names)} {now} ready now, {want} desired"),
    ]
    width = max(len(k) for k, _ in rows) + 2
    return [f"{k + ':':<{width}}{val}" for k, val in rows]


def _revisions(da: DsAssessment) -> list[str]:
    out: list[str] = []
    for c in da.children:
        if c.ref.revision not in out:
            out.append(c.ref.revision)
    return out


def role_rows(da: DsAssessment) -> tuple[list[str], list[list[str]]]:
    headers = ["ROLE", "MODE", "SIZE", "PER SLICE", "DESIRED", "READY", "UPDATED", "IMAGE"]
    rows = []
    for r in da.roles:
        mode = r.spec.mode
        if r.spec.mode == D.EXTERNAL:
            if r.scaler is not None:
                mode += f" (scaler {term(r.scaler.name)} {r.scaler.desired if r.scaler.desired is not None else '?'}"
                mode += "" if r.scaler.current is None else f", current {r.scaler.current}"
                mode += ")"
            elif da.scalers_read:
                mode += f" (no scaler {term(da.view.scaler_name(r.name))} yet)"
            if r.hpas:
                mode += f" HPA {', '.join(term(h) for h in r.hpas)}"
        images = sorted(set(r.spec.images("leader")) | set(r.spec.images("worker")))
        rows.append([term(r.name), mode, str(r.spec.size), "?" if r.per_slice is None else str(r.per_slice),
                     "?" if r.desired is None else str(r.desired), str(r.ready), str(r.updated),
                     ", ".join(term(i) for i in images) or "-"])
    return headers, rows


def grid_rows(da: DsAssessment) -> tuple[list[str], list[list[str]]]:
    """Slice x revision: one row per (slice, revision), a column per role: ``ready/replicas``."""
    roles = da.view.role_names
    headers = ["SLICE", "REVISION", *[r.upper() for r in roles], "PRV"]
    rows = []
    seen: list[tuple[int, str]] = []
    for c in da.children:
        key = (c.ref.slice, c.ref.revision)
        if key not in seen:
            seen.append(key)
    for s, rev in seen:
        cells = []
        prv = []
        for role in roles:
            mine = [c for c in da.children if c.ref.slice == s and c.ref.revision == rev and c.ref.role == role]
            if not mine:
                cells.append("-")
                continue
            c = mine[0]
            text = f"{c.ready}/{c.replicas}"
            if c.initial_replicas is not None:
                text += f" (initial {c.initial_replicas})"
            cells.append(text)
            prv.append(c.prv)
        removed = " removed" if s >= da.view.slices else ""
        mark = " target" if rev == da.target_revision else ""
        prv_cell = "yes" if prv and all(prv) else "no" if not any(prv) else "partly"
        rows.append([f"{s}{removed}", f"{_rev(rev)}{mark}", *cells, prv_cell])
    return headers, rows


def rollout_lines(da: DsAssessment) -> list[str]:
    """Per rolling slice and role: new ready/desired, old left; the stall with its cause."""
    if not da.rolling and da.stall is None:
        return []
    lines = [f"Rollout to {_rev(da.target_revision)}:"]
    for s in da.slices:
        if not s.rolling:
            continue
        parts = []
        for role, v in s.roles.items():
            want = "?" if v["desired"] is None else v["desired"]
            parts.append(f"{term(role)} new {v['newReady']}/{want} ready ({v['new']} asked), old {v['old']} left")
        lines.append(f"  slice {s.index}: " + "; ".join(parts))
    if da.stall is not None:
        st = da.stall
        lines.append(f"  STALLED for {_for(st.seconds)} (--stuck-after {_for(da.stuck_after)}): {term(st.role)} "
                     f"slice {st.slice} group {st.group} ({term(st.child)}) {term(st.label)}")
        if st.cause:
            c = st.cause
            lines.append(f"  cause: {term(c.get('reason'))} on {term(c.get('object'))}: "
                         f"{term(c.get('message'), MESSAGE)}")
        lines.append("  the DisaggregatedSet controller waits for the new revision with no deadline and reports "
                     "nothing: fix the cause, or revert the template change")
    return lines


def _for(seconds: float) -> str:
    from kubectl_lws.model.causes import for_text

    return for_text(seconds)


GROUP_HEADERS = ["ROLE", "SLICE", "REVISION", "GROUP", "READY", "LEADER", "NODES", "RESTARTS", "AGE", "STATE"]


def group_rows(shown: Sequence[tuple[Child, GroupHealth]], *, color: bool) -> list[list[str]]:
    rows = []
    for c, g in shown:
        nodes = sorted({p.node for p in g.pods if p.node})
        node_cell = ",".join(term(n) for n in nodes[:3]) + (f" +{len(nodes) - 3}" if len(nodes) > 3 else "") \
            if nodes else "-"
        rev = term(c.ref.revision) + ("" if c.target else " old")
        group = f"{g.index} (surge)" if g.surge else str(g.index)
        rows.append([term(c.ref.role), str(c.ref.slice), rev, group, f"{g.ready}/{g.size}", term(g.leader or "-"),
                     node_cell, str(g.restarts), human_age(g.age_seconds) if g.age_seconds is not None else "-",
                     _paint(term(g.label), g.state, color)])
    return rows


POD_HEADERS = ["ROLE/SLICE/GROUP/POD", "W", "NODE", "IP", "PHASE", "READY", "RESTARTS", "AGE", "STATE"]


def pod_rows(shown: Sequence[tuple[Child, GroupHealth]], *, color: bool) -> list[list[str]]:
    rows = []
    for c, g in shown:
        rows.append([f"{term(c.ref.role)}/s{c.ref.slice}/g{g.index} ({term(c.name)})", "", "", "", "",
                     f"{g.ready}/{g.size}", str(g.restarts),
                     human_age(g.age_seconds) if g.age_seconds is not None else "-", _paint(term(g.label), g.state, color)])
        for i, p in enumerate(g.pods):
            branch = "└─ " if i == len(g.pods) - 1 else "├─ "
            pstate = "" if p.problem is None else f"{p.problem.state}: {p.problem.reason}"
            rows.append([branch + term(p.name), str(p.worker_index if p.worker_index is not None else "?"),
                         term(p.node or "-"), term(p.ip or "-"), p.phase, "true" if p.ready else "false",
                         str(p.restarts), human_age(p.age_seconds) if p.age_seconds is not None else "-",
                         _paint(term(pstate), p.problem.state, color) if p.problem else ""])
    return rows


def cause_lines(da: DsAssessment, shown: Sequence[tuple[Child, GroupHealth]]) -> list[str]:
    if not (da.events_info and da.events_info.get("read")):
        return []
    lines = []
    for c, g in shown:
        cause = g.cause
        if cause is not None:
            since = f", since {rfc3339(cause.since)}" if cause.since else ""
            lines.append(f"  {term(c.ref.role)} slice {c.ref.slice} group {g.index}: {term(cause.reason)} on "
                         f"{term(cause.object)}{since}: {term(cause.message, MESSAGE)}")
    return (["Causes (from events):"] + lines) if lines else []


def render_status(da: DsAssessment, shown: Sequence[tuple[Child, GroupHealth]], *, pods: bool = False,
                  color: bool = False) -> Styled:
    lines = header_lines(da, color=color)
    lines.append("")
    lines.append(table(*role_rows(da)))
    lines.append("")
    lines.append(table(*grid_rows(da)) if da.children else "(no child LeaderWorkerSet yet)")
    ro = rollout_lines(da)
    if ro:
        lines.append("")
        lines.extend(ro)
    if shown:
        lines.append("")
        if pods:
            lines.append(table(POD_HEADERS, pod_rows(shown, color=color)))
        else:
            lines.append(table(GROUP_HEADERS, group_rows(shown, color=color)))
    causes = cause_lines(da, shown)
    if causes and pods:
        lines.append("")
        lines.extend(causes)
    # every piece above went through render.safe (term/style) or is a table: the whole text is safe
    return Styled("\n".join(lines))


# ---- watch lines -----------------------------------------------------------------------------------------

def _key(da: DsAssessment) -> tuple:
    from kubectl_lws.render.status import _AGE_RE

    return (da.state, _AGE_RE.sub("", da.reason), da.target_revision,
            tuple((r.name, r.ready, r.updated, r.desired) for r in da.roles))


def change_lines(prev: DsAssessment | None, cur: DsAssessment, when: datetime,
                 leaders: dict[tuple[str, int], str]) -> list[Styled]:
    """One timestamped line per change: the DS (state, ready per role), then each child group that changed."""
    from kubectl_lws.render.status import group_key

    ts = rfc3339(when)
    name = term(cur.view.name)
    out: list[str] = []
    if prev is None or _key(prev) != _key(cur):
        per_role = ", ".join(f"{term(r.name)} {r.ready}/{'?' if r.desired is None else r.desired}" for r in cur.roles)
        out.append(Styled(f"{ts}  ds/{name}  {cur.state}: {term(cur.reason, LINE)}  ready {per_role}"))
    if prev is None:
        return out
    before = {(c.name, g.index): g for c in prev.children for g in c.a.groups}
    now_keys = set()
    for c in cur.children:
        for g in c.a.groups:
            key = (c.name, g.index)
            now_keys.add(key)
            old = before.get(key)
            last_uid = leaders.get(key, old.leader_uid if old else None)
            if g.leader_uid:
                leaders[key] = g.leader_uid
            if old is not None and group_key(old) == group_key(g):
                continue
            what = term(g.label, LINE)
            if last_uid and g.leader_uid and last_uid != g.leader_uid:
                what += " (re-created: new leader pod)"
            arrow = f"{old.state} -> " if old is not None and old.state != g.state else ""
            out.append(Styled(f"{ts}  {term(c.ref.role)}/s{c.ref.slice}/{term(c.ref.revision)}  group {g.index}  "
                              f"{arrow}{what}  {g.ready}/{g.size}"))
    scopes = {c.name: f"{c.ref.role}/s{c.ref.slice}/{c.ref.revision}" for c in prev.children}
    for lws, idx in sorted(set(before) - now_keys):
        out.append(Styled(f"{ts}  {term(scopes.get(lws, lws))}  group {idx}  removed"))
    return out


# ---- list ------------------------------------------------------------------------------------------------

def list_item(da: DsAssessment, now: datetime | None = None) -> dict:
    v = da.view
    return {"kind": "DisaggregatedSetSummary", "name": v.name, "namespace": v.namespace, "state": da.state,
            "reason": da.reason, "slices": v.slices, "targetRevision": da.target_revision,
            "rolloutInProgress": da.rolling, "stalled": da.stall is not None,
            "roles": [{"name": r.name, "mode": r.spec.mode, "ready": r.ready, "desired": r.desired,
                       "updated": r.updated} for r in da.roles],
            "lws": [c.name for c in da.children],
            "age": None if (s := age_seconds(v.creation_timestamp, now)) is None else int(s)}


def list_table(items: Sequence[tuple[DsAssessment, dict]], *, all_namespaces: bool, wide: bool, color: bool,
               no_headers: bool = False) -> str:
    headers = (["NAMESPACE"] if all_namespaces else []) + ["DISAGGREGATEDSET", "ROLES (READY/DESIRED)", "SLICES",
                                                           "ROLLOUT", "STATE", "AGE"]
    if wide:
        headers += ["REVISION", "REASON"]
    rows = []
    for da, item in items:
        roles = ", ".join(f"{term(r['name'])} {r['ready']}/{'?' if r['desired'] is None else r['desired']}"
                          for r in item["roles"])
        rollout = "stalled" if item["stalled"] else "rolling" if item["rolloutInProgress"] else "-"
        row = ([term(item["namespace"])] if all_namespaces else []) + [
            f"ds/{term(item['name'])}", roles, str(item["slices"]), rollout,
            _paint(item["state"], item["state"], color), human_age(item["age"])]
        if wide:
            row += [_rev(item["targetRevision"]), term(item["reason"])]
        rows.append(row)
    return table(headers, rows, no_headers=no_headers)


# ---- events ----------------------------------------------------------------------------------------------

EVENT_HEADERS = ["LAST SEEN", "TYPE", "REASON", "ROLE/SLICE/GROUP", "OBJECT", "MESSAGE"]


def _event_row(de: "D.DsEvent", now: datetime) -> list[str]:
    from kubectl_lws.render.events import row

    cells = row(de, now)  # LAST SEEN, TYPE, REASON, GROUP, OBJECT, MESSAGE
    cells[3] = de.scope
    return [term(c, MESSAGE if i == len(cells) - 1 else LINE) for i, c in enumerate(cells)]


def ds_events_table(items: Sequence["D.DsEvent"], now: datetime, *, color: bool = False) -> str:
    rows = [_event_row(de, now) for de in items]
    for r in rows:
        if r[1] == "Warning":
            r[1] = style("Warning", color, fg="yellow")
    return table(EVENT_HEADERS, rows)


def ds_event_line(de: "D.DsEvent", now: datetime) -> Styled:
    last, type_, reason, scope, obj, message = _event_row(de, now)
    return Styled(f"{last:<22} {type_:<8} {reason:<20} {scope:<16} {obj:<40} {message}")


def ds_events_doc(name: str, namespace: str, items: Sequence["D.DsEvent"], info: dict) -> dict:
    return {"kind": "DisaggregatedSetEventList", "name": name, "namespace": namespace, "api": info.get("api"),
            "note": "events expire (kube-apiserver --event-ttl, 1h by default); the set's own events are merged "
                    "by reason by the events recorder",
            "items": [de.to_json() for de in items]}
