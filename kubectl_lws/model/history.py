"""``history``: each group's incarnations, newest first, from a recording or from what the cluster still has.

Pure: the command reads (a ``recording.RecordingReader``, or the LWS, its pods and the namespace's
events) and hands the data here; rendering is ``render/history.py``. The document (``-o json``)::

    {"kind": "LeaderWorkerSetHistory", "name", "namespace", "source": "recording" | "cluster",
     "recording": {...} | null, "note", "unknown": [...], "gaps": [{"from", "to", "reason", "seconds"}],
     "groups": [{"group", "incarnations": [
         {"leaderUID", "leaderPod", "started", "ready", "readyAfterSeconds", "ended", "ranForSeconds",
          "end": {"kind", "pod", "worker", "container", "exitCode", "reason", "signal", "message", "node",
                  "detail"} | null,
          "logs": [paths relative to DIR], "rotated": [...], "current", "from", "complete", "notes": [...]}]}]}

``history ds/NAME`` gives ``{"kind": "DisaggregatedSetHistory", "name", "namespace", "source", "recording",
"note", "unknown", "children": [{"name", "role", "slice", "revision", "unknown", "gaps", "groups": [as
above]}]}``: one entry per child LWS (each role, slice and revision).

From the cluster, an ended incarnation is known only through events (a leader uid they name, the
``RecreateGroup`` that replaced it), which expire (kube-apiserver ``--event-ttl``, 1 h by default), and
say neither exit codes nor messages; ``unknown`` lists what could not be known.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable, Sequence

from kubectl_lws.model import groups as g
from kubectl_lws.model import incarnation as I
from kubectl_lws.model import keys
from kubectl_lws.model.causes import EVENT_TTL_TEXT
from kubectl_lws.model.events import LWS_KIND, LwsEvent
from kubectl_lws.model.timeutil import rfc3339

KIND = "LeaderWorkerSetHistory"
SET_KIND = "DisaggregatedSetHistory"
_FOLDER = re.compile(r"^(\d{8}T\d{6}Z)-(.+)$")
NOTE_RECORDING = "from a recording (kubectl lws record): every incarnation that ended while it ran"
NOTE_CLUSTER = (f"from what the cluster still has: the current pods and events; events expire (kube-apiserver "
                 f"--event-ttl, {EVENT_TTL_TEXT} by default), so older incarnations are not listed, and events "
                 "never say an exit code or a message; kubectl lws record keeps them")


def _inc(**kw: Any) -> dict:
    base = {"leaderUID": None, "leaderPod": None, "started": None, "ready": None, "readyAfterSeconds": None,
            "ended": None, "ranForSeconds": None, "end": None, "logs": [], "rotated": [], "current": False,
            "from": "recording", "complete": True, "notes": []}
    base.update(kw)
    return base


def _doc(name: str, namespace: str, source: str, groups: dict[int, list[dict]], *, note: str,
         recording: dict | None = None, gaps: Sequence[dict] = (), unknown: Sequence[str] = (),
         only: Sequence[int] = ()) -> dict:
    wanted = set(only)
    out = []
    for gi in sorted(groups):
        if wanted and gi not in wanted:
            continue
        incs = sorted(groups[gi], key=lambda i: (i.get("started") or "", i.get("leaderUID") or ""), reverse=True)
        out.append({"group": gi, "incarnations": incs})
    return {"kind": KIND, "name": name, "namespace": namespace, "source": source, "recording": recording,
            "note": note, "unknown": list(unknown), "gaps": list(gaps), "groups": out}


# ---- a DisaggregatedSet: one history per child LWS ----------------------------------------------------

def recorded_child(ds: str, lws: str, lines: Iterable[dict]) -> dict | None:
    """The ``owner`` (``ChildRef.to_json``) of a recorded LWS folder when it is a child of ``ds``: from
    its incarnation lines (the recorder writes ``owner``), else from a child's name
    (``<ds>-<slice>-<rev8>-<role>``, v0.9 ``<ds>-<rev8>-<role>``) for a folder with no ended incarnation yet."""
    for doc in lines:
        owner = doc.get("owner")
        if isinstance(owner, dict) and owner.get("name"):
            return owner if owner["name"] == ds else None
    m = re.fullmatch(rf"{re.escape(ds)}-(?:(\d+)-)?([0-9a-f]{{8}})-([a-z0-9]([-a-z0-9]*[a-z0-9])?)", lws)
    if not m:
        return None
    return {"kind": keys.DS_KIND, "name": ds, "role": m.group(3), "slice": int(m.group(1) or 0),
            "revision": m.group(2)}


def set_doc(name: str, namespace: str, source: str, children: Sequence[tuple[dict, dict]], *, note: str,
            recording: dict | None = None, unknown: Sequence[str] = (), roles: Sequence[str] = ()) -> dict:
    """The history of a DisaggregatedSet from its children's (``(owner fields, history doc)``), in slice, role
    (the set's order when ``roles`` is known) and revision order."""
    order = {r: i for i, r in enumerate(roles)}

    def key(child: tuple[dict, dict]) -> tuple:
        owner = child[0]
        role = owner.get("role") or ""
        return (owner.get("slice") or 0, order.get(role, len(order)), role, owner.get("revision") or "")

    out = [{"name": doc["name"], "role": owner.get("role"), "slice": owner.get("slice"),
            "revision": owner.get("revision"), "unknown": doc["unknown"], "gaps": doc["gaps"], "groups": doc["groups"]}
           for owner, doc in sorted(children, key=key)]
    return {"kind": SET_KIND, "name": name, "namespace": namespace, "source": source, "recording": recording,
            "note": note, "unknown": list(unknown), "children": out}


# ---- from a recording -----------------------------------------------------------------------------------

def from_recording(name: str, namespace: str, lines: Iterable[dict], files: Sequence[str], header: dict, *,
                   only: Sequence[int] = (), where: str = "") -> dict:
    """The history of one LWS from its ``incarnations.ndjson`` lines and the files under its folder
    (``files``: paths relative to DIR). Folders with no line hold incarnations that had not ended when the
    recording last saw them."""
    prefix = f"{namespace}/{name}/"
    present = set(files)
    groups: dict[int, list[dict]] = {}
    gaps: list[dict] = []
    ended: set[str] = set()
    for doc in lines:
        if doc.get("type") == "gap":
            gaps.append({k: doc.get(k) for k in ("from", "to", "reason", "seconds")})
            continue
        if doc.get("type") != "incarnation" or not isinstance(doc.get("group"), int):
            continue
        logs = [p for p in doc.get("logs") or [] if isinstance(p, str)]
        folder = doc.get("folder")
        if folder:
            ended.add(folder)
        notes = list(doc.get("notes") or [])
        if not doc.get("complete", True):
            notes.append(f"recorded from {doc.get('recordedFrom')}, after it started: what happened before is "
                         "what its pods still said then")
        groups.setdefault(doc["group"], []).append(_inc(
            leaderUID=doc.get("leaderUID"), leaderPod=doc.get("leaderPod"), started=doc.get("started"),
            ready=doc.get("ready"), readyAfterSeconds=doc.get("readyAfterSeconds"), ended=doc.get("ended"),
            ranForSeconds=doc.get("ranForSeconds"), end=doc.get("end"),
            logs=[p for p in logs if p in present], rotated=[p for p in logs if p not in present],
            terminations=doc.get("terminations") or [], complete=bool(doc.get("complete", True)), notes=notes))
    live: dict[str, list[str]] = {}
    for path in files:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        if len(parts) == 3 and parts[0][:1] == "g" and parts[0][1:].isdigit():
            live.setdefault(f"{prefix}{parts[0]}/{parts[1]}", []).append(path)
    for folder, paths in sorted(live.items()):
        if folder in ended:
            continue
        group_dir, ident = folder[len(prefix):].split("/")
        m = _FOLDER.match(ident)
        started = datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ") if m else None
        groups.setdefault(int(group_dir[1:]), []).append(_inc(
            leaderUID=m.group(2) if m else None, leaderPod=f"{name}-{group_dir[1:]}", started=started,
            logs=sorted(paths), current=True,
            notes=["had not ended when the recording last saw it"]))
    sessions = header.get("sessions") or []
    recording = {"dir": where, "cluster": header.get("cluster"), "started": header.get("started"),
                 "sessions": len(sessions), "lastStopped": (sessions[-1].get("stopped") if sessions else None),
                 "formatVersion": header.get("formatVersion")}
    return _doc(name, namespace, "recording", groups, note=NOTE_RECORDING, recording=recording, gaps=gaps,
                only=only)


# ---- from the cluster ------------------------------------------------------------------------------------

def from_cluster(view: g.LwsView, pods: Sequence[dict], events: Sequence[LwsEvent] | None, *,
                 now: datetime, only: Sequence[int] = (), events_error: str | None = None) -> dict:
    """The history the cluster can still tell: each group's current incarnation from its pods, earlier
    ones from the events that name their leaders (``events``: the LWS's events, ``events_of_lws``)."""
    groups: dict[int, list[dict]] = {}
    unknown: list[str] = []
    current_uids: dict[int, str] = {}
    if only and events is not None:
        events = [e for e in events if e.group in set(only)]
    recreated = {le.event.related_uid: le.event.message for le in events or ()
                 if le.event.kind == LWS_KIND and le.event.reason == I.RECREATE_EVENT_REASON and le.event.related_uid}
    for group in g.group_pods(pods, view.replicas, include_empty=False):
        if only and group.index not in only:
            continue
        leader = group.leader or next((p for p in group.terminating if g.worker_index(p) == 0), None)
        if leader is None:
            continue
        current_uids[group.index] = (leader.get("metadata") or {}).get("uid", "")
        groups.setdefault(group.index, []).append(_current(view, group, leader, recreated))
    old = _from_events(events or [], current_uids, view.name)
    for gi, incs in old.items():
        if only and gi not in only:
            continue
        groups.setdefault(gi, []).extend(incs)
    if events is None:
        unknown.append(f"events could not be read ({events_error or 'unknown error'}): earlier incarnations "
                       "are not known")
    else:
        quiet = [gi for gi in sorted(groups) if not any(e.group == gi for e in events)]
        if quiet:
            unknown.append(f"no events left about group(s) {', '.join(map(str, quiet))}: incarnations before the "
                           f"current one are not known (events expire after {EVENT_TTL_TEXT})")
        oldest = min((e.event.first or e.event.last for e in events if (e.event.first or e.event.last)),
                     default=None)
        if oldest is not None:
            unknown.append(f"nothing before {rfc3339(oldest)} (the oldest event left)")
    if any(i["end"] and i["end"].get("exitCode") is None and not i["current"] for incs in groups.values()
           for i in incs):
        unknown.append("exit codes, reasons and messages of incarnations known only from events")
    return _doc(view.name, view.namespace, "cluster", groups, note=NOTE_CLUSTER, unknown=unknown, only=only)


def _current(view: g.LwsView, group: g.Group, leader: dict, recreated: dict[str, str]) -> dict:
    meta = leader.get("metadata") or {}
    pods = [*group.pods, *group.terminating]
    started = meta.get("creationTimestamp")
    ready = I.ready_at(pods, view.size)
    ev = I.pods_evidence(group.index, pods, view.name, revision=g.revision(leader),
                         recreate_event=recreated.get(meta.get("uid", "")))
    ending = ev.deletion_started is not None or any(t.failed for t in ev.terminations) and \
        view.restart_policy != "None"
    end = I.decide_end(ev) if ending and (ev.terminations or ev.deletion_started) else None
    ended = I.iso(ev.deletion_started) if ev.deletion_started else None
    notes = []
    if end is not None and ended is None:
        notes.append("a container ended: the LWS controller is about to re-create the group")
    elif end is None and ev.terminations:
        notes.append("restarted in place: " + "; ".join(
            I.end_text({"kind": I.CONTAINER, "worker": t.worker, "exitCode": t.exit_code, "reason": t.reason})
            for t in ev.terminations))
    return _inc(leaderUID=meta.get("uid"), leaderPod=g.pod_name(leader), started=started, ready=ready,
                readyAfterSeconds=I.seconds_between(started, ready), ended=ended,
                ranForSeconds=I.seconds_between(started, ended), end=end, current=ended is None, **{"from": "pods"},
                terminations=[t.to_json() for t in ev.terminations], notes=notes)


def _from_events(events: Sequence[LwsEvent], current: dict[int, str], lws: str) -> dict[int, list[dict]]:
    """Earlier incarnations: every leader uid the events name (a leader pod's own events, the leader a
    ``RecreateGroup`` deleted) that is not a group's current leader."""
    seen: dict[tuple[int, str], dict[str, Any]] = {}
    for le in events:
        ev = le.event
        if le.group is None:
            continue
        if ev.kind == "Pod" and le.worker == 0 and ev.object_uid:
            slot = seen.setdefault((le.group, ev.object_uid), {"pod": ev.object_name})
            _widen(slot, ev.first or ev.last, ev.last or ev.first)
        elif ev.kind == LWS_KIND and ev.reason in (I.RECREATE_EVENT_REASON, I.RESTART_EVENT_REASON) and ev.related_uid:
            slot = seen.setdefault((le.group, ev.related_uid), {"pod": ev.related_name})
            when = ev.first or ev.last
            if slot.get("endedAt") is None or (when and when < slot["endedAt"]):
                slot.update(endedAt=when, why=ev.message, reason=ev.reason)
    disruptions = [(le, I.event_disruption(le.event.reason, le.event.message)) for le in events
                   if le.event.kind == "Pod" and le.group is not None]
    out: dict[int, list[dict]] = {}
    for (gi, uid), slot in seen.items():
        if current.get(gi) == uid:
            continue
        first, ended = slot.get("first"), slot.get("endedAt") or slot.get("last")
        ev = I.Evidence(group=gi, lws=lws)
        why = slot.get("why")
        if slot.get("reason") == I.RESTART_EVENT_REASON:
            ev.restart_event = why
        elif why:
            ev.recreate_event = why
        for le, said in disruptions:
            when = le.event.last or le.event.first
            if said and when and (first is None or when >= first) and (ended is None or when <= ended):
                ev.disruption = (*said, le.event.object_name, le.worker)
                break
        ev.unseen = "its leader pod was replaced; the events do not say why"
        end = I.decide_end(ev)
        out.setdefault(gi, []).append(_inc(
            leaderUID=uid, leaderPod=slot.get("pod"), started=rfc3339(first) if first else None,
            ended=rfc3339(ended) if ended else None,
            ranForSeconds=round((ended - first).total_seconds(), 3) if first and ended else None, end=end,
            complete=False, **{"from": "events"},
            notes=["known from events: started is its first event, not its creation"]))
    return out


def _widen(slot: dict, first: datetime | None, last: datetime | None) -> None:
    if first and (slot.get("first") is None or first < slot["first"]):
        slot["first"] = first
    if last and (slot.get("last") is None or last > slot["last"]):
        slot["last"] = last
