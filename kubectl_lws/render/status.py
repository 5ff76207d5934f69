"""Text and JSON for ``kubectl lws status`` and ``kubectl lws list`` (and the watch screen).

Everything here is a pure function of the model (``Assessment`` + ``Placement``) and a clock, so
the exact output is unit-testable without a cluster. Colour is optional and only wraps whole
cells (render.output.table does not count ANSI codes when it measures widths).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Sequence

from kubectl_lws.model import health as H
from kubectl_lws.model.admission import lws_conditions, unknown_condition_lines
from kubectl_lws.model.health import Assessment, GroupHealth, short_hash
from kubectl_lws.model.topology import Placement, short_key
from kubectl_lws.model.timeutil import age_seconds, rfc3339
from kubectl_lws.render.output import human_age, table
from kubectl_lws.render.safe import LINE, MESSAGE, Styled, style, styled, term

_COLORS = {
    H.READY: "green", H.HEALTHY: "green",
    H.DEGRADED: "red", H.UNAVAILABLE: "red", H.MISSING: "red", H.NODE_NOT_READY: "red",
    H.PENDING: "yellow", H.RECREATING: "yellow", H.PROGRESSING: "yellow", H.UPDATING: "yellow",
    H.SCALING: "yellow", H.CANARY: "cyan", H.PAUSED: "magenta",
}


def paint(text: str, state: str, color: bool, limit: int | None = MESSAGE) -> Styled:
    """``text`` (cluster words included) made safe and bounded, in the colour of ``state`` when colour is on."""
    return style(text, color, fg=_COLORS.get(state), bold=state in (H.DEGRADED, H.UNAVAILABLE), limit=limit)


def _images(templates: dict) -> list[str]:
    return [c.get("image", "") for c in (templates.get("spec") or {}).get("containers") or [] if c.get("image")]


# ---- JSON --------------------------------------------------------------------------------------------

def images_doc(a: Assessment) -> dict:
    """``current`` from the LWS spec (what new groups get); ``stable`` from pods on an older revision."""
    doc: dict = {"current": {"revision": a.current_revision, "leader": _images(a.view.leader_template()),
                             "worker": _images(a.view.worker_template())}}
    by_rev = H.images_by_revision(a.groups)
    counts: dict[str, int] = {}
    for g in a.groups:
        if g.revision and g.revision != a.current_revision:
            counts[g.revision] = counts.get(g.revision, 0) + 1
    if counts:
        stable = max(counts, key=lambda r: counts[r])
        doc["stable"] = {"revision": stable, **by_rev.get(stable, {"leader": [], "worker": []})}
    return doc


def status_doc(a: Assessment, place: Placement | None, *, groups: Sequence[int] | None = None) -> dict:
    """The ``-o json`` document (README: "JSON fields")."""
    v = a.view
    shown = [g for g in a.groups if groups is None or g.index in groups]
    doc = {
        "kind": "LeaderWorkerSetStatus",
        "name": v.name,
        "namespace": v.namespace,
        "owner": owner_json(v.raw),
        "state": a.state,
        "reason": a.reason,
        "generation": v.generation,
        "observedGeneration": v.observed_generation,
        "replicas": {"desired": a.desired, "ready": a.ready, "updated": a.updated, "current": a.current,
                     "statusReady": v.status.get("readyReplicas", 0),
                     "statusUpdated": v.status.get("updatedReplicas", 0)},
        "partition": v.partition,
        "maxUnavailable": v.max_unavailable,
        "maxSurge": v.max_surge,
        "size": v.size,
        "restartPolicy": v.restart_policy,
        "startupPolicy": v.startup_policy,
        "subdomainPolicy": v.subdomain_policy,
        "exclusiveTopology": v.exclusive_topology,
        "subgroupExclusiveTopology": v.subgroup_exclusive_topology,
        "subgroupSize": v.subgroup_size,
        "currentRevision": a.current_revision,
        "images": images_doc(a),
        "groups": [g.to_json(place.domains.get(g.index, {}) if place else {}) for g in shown],
        "topology": place.to_json() if place else {"keys": [], "violations": []},
        # null when events were not read (every group Ready): causes and re-creations unknown, not zero
        "events": a.events_info,
        # null when no layer was read (every group Ready, or no group goes through one)
        "admission": a.admission_info,
        "conditions": lws_conditions(v),
    }
    if place and groups is not None:
        doc["topology"]["violations"] = [x for x in doc["topology"]["violations"]
                                         if x["group"] is None or x["group"] in groups]
    return doc


def owner_json(lws: dict) -> dict | None:
    """``{"kind": "DisaggregatedSet", "name", "role", "slice", "revision"}`` for an LWS a DS made, else None."""
    from kubectl_lws.model.ds import child_ref

    ref = child_ref(lws)
    return ref.to_json() if ref is not None else None


# ---- text --------------------------------------------------------------------------------------------

def _group_cell(g: GroupHealth) -> str:
    return f"{g.index} (surge)" if g.surge else str(g.index)


def _revision_cell(g: GroupHealth) -> str:
    if not g.revision:
        return "-"
    role = g.revision_role
    return short_hash(g.revision) if role in ("current", "unknown") else f"{short_hash(g.revision)} {role}"


def _join_domains(values: list[str], limit: int = 3) -> str:
    if not values:
        return "-"
    shown = ",".join(values[:limit])
    return shown + (f" +{len(values) - limit}" if len(values) > limit else "")


def _placement_keys(a: Assessment, place: Placement | None, wide: bool) -> list[str]:
    if place is None:
        return []
    if wide:
        return [k for k in place.keys if place.nodes_known or k == place.keys[0]]
    primary = a.view.exclusive_topology if a.view.exclusive_topology and place.nodes_known else place.keys[0]
    return [primary]


COMPACT_HEADER = ("Name", "State", "Replicas", "Rollout")


def _owner_row(v: "H.LwsView") -> list[tuple[str, str]]:
    """An LWS a DisaggregatedSet made says so first: scaling or rolling it alone is undone by its controller."""
    from kubectl_lws.model.ds import child_ref
    from kubectl_lws.render.safe import term

    ref = child_ref(v.raw)
    if ref is None:
        return []
    return [("Owner", f"{term(ref.describe())} (see: kubectl lws status ds/{term(ref.ds)})")]


def header_lines(a: Assessment, place: Placement | None, *, color: bool, compact: bool = False) -> list[str]:
    v = a.view
    rows: list[tuple[str, str]] = [
        ("Name", f"{v.name}"),
        ("Namespace", v.namespace),
        *_owner_row(v),
        ("State", styled(paint(a.state, a.state, color), f": {term(a.reason, LINE)}" if a.reason else "")),
        ("Generation", f"{v.generation} (observed {v.observed_generation if v.observed_generation is not None else '?'})"),
        ("Replicas", f"{a.desired} desired, {a.ready} ready, {a.updated} updated, {a.current} current"
                     + (f" (LWS status says {v.status.get('readyReplicas', 0)} ready)"
                        if v.status.get("readyReplicas", 0) != a.ready else "")),
        ("Rollout", f"partition {v.partition}, maxUnavailable {v.max_unavailable}, maxSurge {v.max_surge}"
                    + (f", revision {short_hash(a.current_revision)}" if a.current_revision else "")),
        ("Size", (f"{v.size} (leader + {v.size - 1} worker{'s' if v.size != 2 else ''})" if v.size > 1
                  else "1 (leader only)")
                 + (f", subgroups of {v.subgroup_size} ({v.subgroup_policy_type})" if v.subgroup_size else "")),
        ("Policies", f"restart {v.restart_policy}, startup {v.startup_policy}, subdomain {v.subdomain_policy}"),
    ]
    if v.exclusive_topology or v.subgroup_exclusive_topology:
        rows.append(("Exclusive", ", ".join(x for x in (
            f"groups on {v.exclusive_topology}" if v.exclusive_topology else "",
            f"subgroups on {v.subgroup_exclusive_topology}" if v.subgroup_exclusive_topology else "") if x)))
    imgs = images_doc(a)
    for role in ("leader", "worker"):
        if role == "leader" and v.size == 1:
            pass
        cur = ", ".join(imgs["current"][role]) or "-"
        text = cur
        stable = imgs.get("stable")
        if stable and stable.get(role) and stable[role] != imgs["current"][role]:
            text = f"{', '.join(stable[role])} (stable) -> {cur} ({'canary' if v.partition else 'new'})"
        rows.append((f"Image ({role})", text))
        if v.size == 1:
            break
    other = unknown_condition_lines(v)
    if other:  # conditions this tool does not interpret are shown, never dropped
        rows.append(("Conditions", "; ".join(other)))
    if compact:  # small terminals: the table matters more than policies and images
        rows = [(k, val if k != "Name" else f"{v.namespace}/{v.name}") for k, val in rows if k in COMPACT_HEADER]
    width = max(len(k) for k, _ in rows) + 2
    # every value is cluster text (names, images, numbers as served): one safe, bounded line each
    return [f"{k + ':':<{width}}{term(val, LINE)}" for k, val in rows]


def group_rows(a: Assessment, place: Placement | None, groups: Sequence[GroupHealth], *, wide: bool,
               color: bool) -> tuple[list[str], list[list[str]]]:
    keys_shown = _placement_keys(a, place, wide)
    history = _events_read(a)
    headers = ["GROUP", "READY", "REVISION", "LEADER"] + [
        ("NODES" if short_key(k) == "NODE" else short_key(k)) for k in keys_shown] + ["RESTARTS"] + \
        (["RECREATED"] if history else []) + ["AGE", "STATE"]
    rows = []
    for g in groups:
        doms = place.domains.get(g.index, {}) if place else {}
        rows.append([_group_cell(g), f"{g.ready}/{g.size}", _revision_cell(g), g.leader or "-",
                     *[_join_domains(doms.get(k, [])) for k in keys_shown],
                     str(g.restarts), *([_recreated_cell(g)] if history else []),
                     human_age(g.age_seconds) if g.age_seconds is not None else "-",
                     paint(_state_cell(g, wide), g.state, color)])
    return headers, rows


STATE_WIDTH = 100  # the table's STATE stays short; --pods and -o wide show the message (to safe.MESSAGE)


def _state_cell(g: GroupHealth, wide: bool) -> str:
    label = g.label
    if wide or len(label) <= STATE_WIDTH:
        return label
    return label[: STATE_WIDTH - 3].rstrip() + "..."


def _events_read(a: Assessment) -> bool:
    return bool(getattr(a, "events_info", None) and a.events_info.get("read"))


def _recreated_cell(g: GroupHealth) -> str:
    from kubectl_lws.model.events import recreation_text

    return recreation_text(g.recreations)


def cause_lines(a: Assessment, groups: Sequence[GroupHealth]) -> list[str]:
    """Under the table: the whole message of every cause (with the layer that found it; the group's cause
    first, then what the admission/gang/storage layers also found), and the re-creation loops (events only)."""
    lines: list[str] = []
    for g in groups:
        for c in ([g.cause] if g.cause is not None else []) + [x for x in g.layer_causes if x is not g.cause]:
            since = f", since {rfc3339(c.since)}" if c.since else ""
            times = f", x{c.count}" if c.count > 1 else ""
            lines.append(f"  group {g.index}: {term(c.reason, LINE)} on {term(c.object, LINE)} ({term(c.layer)})"
                         f"{times}{since}: {term(c.message, MESSAGE)}")
        rec = g.recreations
        if rec is not None and rec.loop:
            ended = f"; the last incarnation ended: {term(rec.last_end, LINE)}" if rec.last_end else ""
            lines.append(f"  group {g.index}: re-creation loop, {rec.count} re-creations, "
                         f"last: {term(rec.last_reason, LINE) or '-'}{ended}")
    if lines:
        lines.insert(0, "Causes:")
    if _events_read(a) and any(g.recreations is not None and g.recreations.count for g in groups):
        lines.append("RECREATED counts re-creations in the events the API server still keeps (1h by default).")
    return lines


POD_HEADERS = ["GROUP/POD", "W", "SG", "NODE", "IP", "PHASE", "READY", "RESTARTS", "LAST-REASON", "REVISION",
               "AGE", "STATE"]


def pod_tree_rows(a: Assessment, groups: Sequence[GroupHealth], *, color: bool) -> list[list[str]]:
    """Group rows with their pods under them, leader (w0) first: an argo-rollouts-like tree."""
    rows: list[list[str]] = []
    for g in groups:
        rows.append([f"group {_group_cell(g)}", "", "", "", "", "", f"{g.ready}/{g.size}", str(g.restarts), "",
                     _revision_cell(g), human_age(g.age_seconds) if g.age_seconds is not None else "-",
                     paint(g.label, g.state, color)])
        for i, p in enumerate(g.pods):
            branch = "└─ " if i == len(g.pods) - 1 else "├─ "
            pstate = "" if p.problem is None else f"{p.problem.state}: {p.problem.reason}"
            rows.append([branch + p.name, str(p.worker_index if p.worker_index is not None else "?"),
                         "-" if p.subgroup_index is None else str(p.subgroup_index), p.node or "-", p.ip or "-",
                         p.phase, "true" if p.ready else "false", str(p.restarts), _last_reason(p),
                         short_hash(p.revision), human_age(p.age_seconds) if p.age_seconds is not None else "-",
                         paint(pstate, p.problem.state, color) if p.problem else ""])
        if g.missing:
            rows.append([f"   (no pod for {', '.join(f'w{w}' for w in g.missing[:8])}"
                         f"{' ...' if len(g.missing) > 8 else ''})", "", "", "", "", "", "", "", "", "", "", ""])
    return rows


def _last_reason(p: "H.PodInfo") -> str:
    """Only a real last termination reason (the current problem has its own STATE column)."""
    if not p.reason or (p.problem is not None and p.reason == p.problem.reason):
        return "-"
    return p.reason


def stray_lines(groups: Sequence[GroupHealth]) -> list[str]:
    """Pods whose worker index has no place in their group (model/groups.Stray): not counted anywhere."""
    lines = [f"  group {g.index}: {term(s.name, LINE)}: {term(s.why, LINE)}"
             for g in groups if g.group is not None for s in g.group.strays]
    return ["Unexpected pods (not counted):", *lines] if lines else []


def violation_lines(place: Placement | None, groups: Sequence[int] | None = None,
                    limit: int | None = None) -> list[str]:
    if place is None:
        return []
    items = [v for v in place.violations if groups is None or v.group is None or v.group in groups]
    if not items:
        return []
    shown = items if limit is None else items[:max(limit, 1)]
    lines = ["Placement violations:"] + [f"  - {term(v.message, MESSAGE)}" for v in shown]
    if len(items) > len(shown):
        lines.append(f"  ... {len(items) - len(shown)} more violations")
    return lines


def render_status(a: Assessment, place: Placement | None, *, groups: Sequence[int] | None = None,
                  pods: bool = False, wide: bool = False, color: bool = False,
                  max_rows: int | None = None, max_violations: int | None = None, compact: bool = False) -> Styled:
    """The full status text; ``max_rows`` trims the group table (watch screen) with "... N more"."""
    shown = [g for g in a.groups if groups is None or g.index in groups]
    lines = header_lines(a, place, color=color, compact=compact)
    lines.append("")
    hidden = 0
    if max_rows is not None and len(shown) > max_rows:
        # keep the groups that need attention, then fill with the rest in index order
        bad = [g for g in shown if not g.healthy]
        keep = set(g.index for g in bad[:max_rows])
        for g in shown:
            if len(keep) >= max_rows:
                break
            keep.add(g.index)
        hidden = len(shown) - len(keep)
        shown = [g for g in shown if g.index in keep]
    if pods or wide:
        lines.append(table(POD_HEADERS, pod_tree_rows(a, shown, color=color)))
        if wide:
            headers, rows = group_rows(a, place, shown, wide=True, color=color)
            lines.append("")
            lines.append(table(headers, rows))
    else:
        headers, rows = group_rows(a, place, shown, wide=False, color=color)
        lines.append(table(headers, rows))
    if hidden:
        not_ready = sum(1 for g in a.groups if not g.healthy and (groups is None or g.index in groups)) - \
            sum(1 for g in shown if not g.healthy)
        lines.append(f"... {hidden} more groups" + (f" ({not_ready} not ready)" if not_ready else ""))
    causes = cause_lines(a, shown)
    if not (pods or wide):  # the STATE column carries the one-line cause; the note stays
        causes = [line for line in causes if line.startswith("RECREATED")]
    if causes:
        lines.append("")
        lines.extend(causes)
    strays = stray_lines(shown)
    if strays:
        lines.append("")
        lines.extend(strays)
    viol = violation_lines(place, groups, max_violations)
    if viol:
        lines.append("")
        lines.extend(viol)
    tas = tas_lines(a, place, groups)
    if tas:
        lines.append("")
        lines.extend(tas)
    return Styled("\n".join(lines))  # every cluster word above went through render.safe


def tas_lines(a: Assessment, place: Placement | None, groups: Sequence[int] | None = None) -> list[str]:
    """Where Kueue's Topology Aware Scheduling assigned each pod set, beside where the pods landed."""
    tas = (a.admission_info or {}).get("tas") or {}
    if not tas:
        return []
    from kubectl_lws.model.admission import TasAssignment, TasDomain

    lines = ["Kueue topology assignment (TAS):"]
    for index, by_podset in sorted(tas.items(), key=lambda kv: int(kv[0])):
        if groups is not None and int(index) not in groups:
            continue
        parts = []
        for podset, doc in by_podset.items():
            ta = TasAssignment(tuple(doc.get("levels") or ()), tuple(
                TasDomain(tuple(d.get("values") or ()), int(d.get("count") or 0)) for d in doc.get("domains") or []))
            parts.append(f"{podset} -> {ta.text()}")
        landed = (place.domains.get(int(index), {}) if place else {}).get("kubernetes.io/hostname") or []
        lines.append(term(f"  group {index}: {'; '.join(parts)}; pods on {', '.join(landed) or '-'}"))
    return lines if len(lines) > 1 else []


def render_screen(a: Assessment, place: Placement | None, *, height: int, width: int,
                  groups: Sequence[int] | None = None, pods: bool = False, color: bool = False,
                  now: datetime | None = None) -> Styled:
    """The --watch screen for a terminal of ``height`` x ``width``: trimmed, never scrolling."""
    stamp = f"Every change, last at {rfc3339(now) if now else ''}   (Ctrl-C to quit)"
    n_groups = sum(1 for g in a.groups if groups is None or g.index in groups)
    n_viol = len(violation_lines(place, groups))
    max_viol = 3 if height >= 24 else 1
    viol_room = 0 if not n_viol else 2 + min(n_viol - 1, max_viol) + (1 if n_viol - 1 > max_viol else 0)

    def room_for(compact: bool) -> int:
        header_count = len(header_lines(a, place, color=False, compact=compact)) + 2  # blank + table header
        return height - 1 - header_count - 1 - viol_room  # stamp, "... more groups"

    # with --pods a group takes its own row, one per pod and maybe a "(no pod for ...)" line
    per_group = 2 + a.view.size if pods else 1
    compact = room_for(False) < min(n_groups, 5) * per_group
    room = max(1, room_for(compact) // per_group)
    text = render_status(a, place, groups=groups, pods=pods, color=color, max_rows=room,
                         max_violations=max_viol, compact=compact)
    out_lines = [stamp[:width]] + text.splitlines()
    if len(out_lines) > height:
        out_lines = out_lines[: height - 1] + [f"... {len(out_lines) - height + 1} more lines"]
    return Styled("\n".join(_clip(line, width) for line in out_lines))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _clip(line: str, width: int) -> str:
    if len(_ANSI.sub("", line)) <= width:
        return line
    plain = _ANSI.sub("", line)
    return plain[: max(1, width - 1)] + "…"


# ---- watch change lines --------------------------------------------------------------------------------

_AGE_RE = re.compile(r"\b\d+(?:[smhd]\d*)+[smhd]? (ago|old)\b|\(leader \d+s old\)")


def group_key(g: GroupHealth) -> tuple:
    """What counts as a change of a group (ages ticking do not)."""
    return (g.state, _AGE_RE.sub("", g.reason), g.ready, g.revision, g.leader_uid, g.surge)


def change_lines(prev: Assessment | None, cur: Assessment, when: datetime,
                 leaders: dict[int, str] | None = None) -> list[str]:
    """One timestamped line per change (off-TTY --watch): the LWS state, then each changed group.

    ``leaders`` (group index -> last leader pod uid seen) is the watch's memory across calls: a
    re-created group passes through states without any leader, so comparing with ``prev`` alone
    would never see the old and the new leader side by side.
    """
    ts = rfc3339(when)
    name = term(cur.view.name, LINE)
    out: list[str] = []
    if prev is None or (prev.state, _AGE_RE.sub("", prev.reason)) != (cur.state, _AGE_RE.sub("", cur.reason)) \
            or (prev.ready, prev.updated) != (cur.ready, cur.updated):
        out.append(f"{ts}  {name}  {cur.state}: {term(cur.reason, LINE)}  ready {cur.ready}/{cur.desired} "
                   f"updated {cur.updated}/{cur.desired}")
    before = {g.index: g for g in prev.groups} if prev else {}
    now_idx = {g.index for g in cur.groups}
    for g in cur.groups:
        old = before.get(g.index)
        last_uid = old.leader_uid if old is not None else None
        if leaders is not None:
            last_uid = leaders.get(g.index, last_uid)
            if g.leader_uid:
                leaders[g.index] = g.leader_uid
        if old is not None and group_key(old) == group_key(g):
            continue
        if prev is None and g.healthy:
            continue
        what = term(g.label, LINE)
        if last_uid and g.leader_uid and last_uid != g.leader_uid:
            what += " (re-created: new leader pod)"
        arrow = f"{old.state} -> " if old is not None and old.state != g.state else ""
        out.append(f"{ts}  {name}  group {_group_cell(g)}  {arrow}{what}  {g.ready}/{g.size}  "
                   f"{term(_revision_cell(g))}  leader {term(g.leader, LINE) or '-'}")
    for idx in sorted(set(before) - now_idx):
        out.append(f"{ts}  {name}  group {idx}  removed")
    return out


# ---- list ---------------------------------------------------------------------------------------------

def list_item(a: Assessment, now: datetime | None = None) -> dict:
    v = a.view
    surge = sum(1 for g in a.groups if g.surge)
    return {"kind": "LeaderWorkerSetSummary", "name": v.name, "namespace": v.namespace, "state": a.state,
            "reason": a.reason,
            "groups": {"desired": a.desired, "ready": a.ready, "updated": a.updated, "current": a.current,
                       "surge": surge},
            "size": v.size, "partition": v.partition, "restartPolicy": v.restart_policy,
            "currentRevision": a.current_revision,
            "age": None if (s := age_seconds(v.creation_timestamp, now)) is None else int(s),
            # null when events were not read: loops unknown, not absent
            "recreationLoops": [g.index for g in a.groups if g.recreations is not None and g.recreations.loop]
            if _events_read(a) else None,
            "source": a.source}


def list_table(items: Sequence[tuple[Assessment, dict]], *, all_namespaces: bool, wide: bool, color: bool,
               no_headers: bool = False) -> Styled:
    headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "GROUPS", "SIZE", "UPDATED", "PARTITION",
                                                           "RESTART POLICY", "STATE", "AGE"]
    if wide:
        headers += ["REVISION", "REASON"]
    rows = []
    for a, item in items:
        row = ([item["namespace"]] if all_namespaces else []) + [
            item["name"], f"{item['groups']['ready']}/{item['groups']['desired']}"
            + (f" +{item['groups']['surge']}" if item["groups"]["surge"] else ""),
            str(item["size"]), f"{item['groups']['updated']}/{item['groups']['desired']}", str(item["partition"]),
            item["restartPolicy"], paint(item["state"], item["state"], color),
            human_age(item["age"])]
        if wide:
            row += [short_hash(item["currentRevision"]), item["reason"]]
        rows.append(row)
    return table(headers, rows, no_headers=no_headers)
