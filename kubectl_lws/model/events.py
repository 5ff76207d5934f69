"""Events of one LWS: normalise both APIs, deduplicate, map to groups, causes, re-creations.

Why a model of its own: ``status`` (causes of unhealthy groups), ``events`` (the timeline) and the
support-bundle ``report`` all need the same reading of events, and events come in two shapes:
core/v1 (``involvedObject``, ``message``, ``count``, ``first/lastTimestamp``, often null since the
events.k8s.io recorder writes ``eventTime``) and events.k8s.io/v1 (``regarding``, ``note``,
``series``, ``deprecated*``). Both APIs serve the same stored events (golden ``events/``): the same
uid comes back from each, so deduplication is by uid first.

Public API (pure functions over raw API dicts; no network, no printing):

* ``normalize(raw) -> Event | None`` and ``normalize_all(items) -> list[Event]`` (deduplicated, by last time)
* ``object_group(kind, name, lws) -> (group, worker) | None`` and ``events_of_lws(events, lws) -> list[LwsEvent]``
* ``group_cause(...) -> Cause | None``: the most specific reason one group is not Ready (causes of
  layer ``events``, the pods' own and any other layer's, ranked by ``model/causes``)
* ``recreations(events, now=..., leaders=...) -> dict[int, Recreations]``: re-creations per group,
  one per leader incarnation replaced
* ``LOOP_COUNT`` / ``LOOP_WINDOW``: what makes a re-creation loop (3 in 10 minutes)
* ``NOISE_REASONS`` / ``noise_field_selector()`` / ``without_noise()``: the routine reasons a status
  LIST leaves out server-side
* ``raw_of_lws(items, lws)`` / ``raw_by_lws(items, names)``: a namespace's raw events split per LWS

What a group's state becomes with these causes is decided in ``model/verdict``, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Collection, Iterable, Sequence

from kubectl_lws.model.causes import EVENTS, IMAGE_WAITING, Cause, Recreations, for_text, pod_causes, rank, who
from kubectl_lws.model.groups import worker_index
from kubectl_lws.model.timeutil import parse_time, rfc3339, utc_now

LWS_KIND = "LeaderWorkerSet"

# Routine reasons, one or more per pod and group created: a status explaining failures skips them
# on the server (field selectors AND their requirements, so ``reason!=X,reason!=Y`` narrows one LIST).
NOISE_REASONS = ("Scheduled", "SuccessfulCreate", "SuccessfulDelete", "Pulling", "Pulled", "Created",
                 "Started", "Killing", "GroupsProgressing", "AllGroupsReady", "GroupsUpdating",
                 "CreatingRevision", "SuccessfulAttachVolume")

# Re-creations inside this window, this many or more, make a re-creation loop (issue: 3 in 10 minutes).
LOOP_COUNT = 3
LOOP_WINDOW = timedelta(minutes=10)


def other_lws_names(events: Iterable[Event], lws: str) -> list[str]:
    """Other LWS whose names extend ``lws`` (``vllm-1`` next to ``vllm``), as the events name them: their
    objects look like ``lws``'s group objects and must be left to them (``events_of_lws(others=...)``)."""
    return sorted({e.object_name for e in events if e.kind == LWS_KIND and e.object_name.startswith(lws + "-")})


def noise_field_selector() -> str:
    return ",".join(f"reason!={r}" for r in NOISE_REASONS)


def without_noise(items: Iterable[dict]) -> list[dict]:
    """Raw events less the routine reasons: what ``noise_field_selector`` leaves on the server."""
    return [i for i in items if i.get("reason") not in NOISE_REASONS]


# ---- one event, both APIs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """An event in one shape whichever API served it."""

    uid: str
    name: str
    namespace: str
    type: str  # Normal / Warning
    reason: str
    message: str
    kind: str  # of the object it is about
    object_name: str
    object_uid: str | None
    field_path: str | None
    related_kind: str | None
    related_name: str | None
    related_uid: str | None
    first: datetime | None
    last: datetime | None
    count: int
    source: str  # reporting controller / component
    api: str  # "v1" or "events.k8s.io/v1"

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.object_name}"

    def to_json(self) -> dict:
        return {"type": self.type, "reason": self.reason, "message": self.message, "object": self.object,
                "objectUid": self.object_uid, "fieldPath": self.field_path,
                "related": f"{self.related_kind}/{self.related_name}" if self.related_name else None,
                "firstTime": rfc3339(self.first) if self.first else None,
                "lastTime": rfc3339(self.last) if self.last else None, "count": self.count,
                "source": self.source, "name": self.name, "uid": self.uid}


def normalize(raw: dict) -> Event | None:
    """One core/v1 or events.k8s.io/v1 Event as an :class:`Event` (None when it names no object)."""
    meta = raw.get("metadata") or {}
    v1 = "regarding" in raw or "note" in raw or raw.get("apiVersion") == "events.k8s.io/v1"
    ref = (raw.get("regarding") if v1 else raw.get("involvedObject")) or {}
    if not ref.get("name"):
        return None
    related = raw.get("related") or {}
    series = raw.get("series") or {}
    if v1:
        first_s = raw.get("deprecatedFirstTimestamp")
        last_s = raw.get("deprecatedLastTimestamp")
        count = raw.get("deprecatedCount")
        message = raw.get("note") or ""
        source = raw.get("reportingController") or (raw.get("deprecatedSource") or {}).get("component") or ""
    else:
        first_s = raw.get("firstTimestamp")
        last_s = raw.get("lastTimestamp")
        count = raw.get("count")
        message = raw.get("message") or ""
        source = raw.get("reportingComponent") or (raw.get("source") or {}).get("component") or ""
    event_time = raw.get("eventTime")
    created = meta.get("creationTimestamp")
    first = parse_time(first_s or event_time or created)
    last = parse_time(series.get("lastObservedTime") or last_s or event_time or created)
    if first and last and last < first:
        first = last
    n = series.get("count") or count or 1
    return Event(uid=meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}",
                 name=meta.get("name", ""), namespace=meta.get("namespace") or ref.get("namespace") or "",
                 type=raw.get("type") or "Normal", reason=raw.get("reason") or "", message=message.strip(),
                 kind=ref.get("kind") or "", object_name=ref.get("name", ""), object_uid=ref.get("uid"),
                 field_path=ref.get("fieldPath"), related_kind=related.get("kind"),
                 related_name=related.get("name"), related_uid=related.get("uid"), first=first, last=last,
                 count=int(n) if str(n).isdigit() else 1, source=source,
                 api="events.k8s.io/v1" if v1 else "v1")


def _ts(dt: datetime | None) -> float:
    return dt.timestamp() if dt else 0.0


def dedupe(events: Iterable[Event]) -> list[Event]:
    """One event per uid (the same object read through both APIs), the most recent copy kept.

    Events without a server uid fall back to (object uid, reason, message, first time), which is what
    the two recorders would both write for one occurrence.
    """
    best: dict[tuple, Event] = {}
    for ev in events:
        key = ("uid", ev.uid) if ev.uid and "/" not in ev.uid else \
            ("occ", ev.object_uid or ev.object, ev.reason, ev.message, _ts(ev.first))
        old = best.get(key)
        if old is None or (_ts(ev.last), ev.count) > (_ts(old.last), old.count):
            best[key] = ev
    return list(best.values())


def normalize_all(items: Iterable[dict]) -> list[Event]:
    """Raw items of one or more EventLists -> deduplicated events, oldest first (by last time)."""
    out = [ev for ev in (normalize(i) for i in items) if ev is not None]
    out = dedupe(out)
    out.sort(key=lambda e: (_ts(e.last or e.first), e.name))
    return out


def raw_of_lws(items: Iterable[dict], lws: str) -> list[dict]:
    """Raw events whose object is named like one of LWS ``lws``'s (cheap string test before
    ``normalize_all``: a namespace's timeline is mostly other workloads' events)."""
    return raw_by_lws(items, {lws}).get(lws, [])


def raw_by_lws(items: Iterable[dict], names: Collection[str]) -> dict[str, list[dict]]:
    """``raw_of_lws`` for many LWS of one namespace in one pass: name -> its raw events.

    An object named ``a-b-c`` may belong to LWS ``a``, ``a-b`` or ``a-b-c`` (its name, or a prefix
    ending before a ``-``): each of those that is in ``names`` gets the event, exactly as
    ``raw_of_lws`` would give it to each of them alone.
    """
    out: dict[str, list[dict]] = {}
    for raw in items:
        ref = raw.get("involvedObject") or raw.get("regarding") or {}
        name = ref.get("name") or ""
        if not name:
            continue
        cut = name.find("-")
        while True:
            prefix = name if cut < 0 else name[:cut]
            if prefix in names:
                out.setdefault(prefix, []).append(raw)
            if cut < 0:
                break
            cut = name.find("-", cut + 1)
    return out


# ---- which group an object belongs to ---------------------------------------------------------------

_NAME_CACHE: dict[str, re.Pattern] = {}


def _name_re(lws: str) -> re.Pattern:
    pat = _NAME_CACHE.get(lws)
    if pat is None:
        pat = _NAME_CACHE[lws] = re.compile(rf"^{re.escape(lws)}-(\d+)(?:-(\d+))?$")
    return pat


_RECREATE_GROUP_RE = re.compile(r"recreate group (\d+)")
_CREATE_POD_RE = re.compile(r"(?:[Cc]reate|[Dd]elete) Pod (\S+) in StatefulSet (\S+)")


def object_group(kind: str, name: str, lws: str) -> tuple[int | None, int | None] | None:
    """(group, worker index) of an object of LWS ``lws`` by the names the controller gives, or None
    when the object is not one of the LWS's. The LWS itself and its shared Service give (None, None).

    Names (reference §5): leader pod and worker StatefulSet ``<lws>-<g>``, worker pod ``<lws>-<g>-<w>``,
    leader StatefulSet and shared Service ``<lws>``, UniquePerReplica Service ``<lws>-<g>``.
    """
    if name == lws:
        return (None, None) if kind in (LWS_KIND, "StatefulSet", "Service") else None
    m = _name_re(lws).match(name)
    if not m:
        return None
    g = int(m.group(1))
    if m.group(2) is not None:
        return (g, int(m.group(2))) if kind == "Pod" else None
    if kind == "Pod":
        return g, 0
    if kind in ("StatefulSet", "Service"):
        return g, None
    return None


@dataclass(frozen=True)
class LwsEvent:
    """An event of one LWS with the group (and worker) it is about, None for the LWS as a whole."""

    event: Event
    group: int | None
    worker: int | None


def event_group(ev: Event, lws: str) -> tuple[int | None, int | None] | None:
    """The group an event is about: from the object's name, or the message where the object is the
    LWS (``RecreateGroup``) or the leader StatefulSet (``Create Pod <lws>-<g> in StatefulSet <lws>``)."""
    where = object_group(ev.kind, ev.object_name, lws)
    if where is None:
        return None
    if ev.kind == "StatefulSet" and "Pod" in ev.message:
        m = _CREATE_POD_RE.search(ev.message)
        if m:
            rel = object_group("Pod", m.group(1), lws)
            if rel is not None and where[0] in (None, rel[0]):
                return rel
    if where[0] is not None:
        return where
    if ev.kind == LWS_KIND:
        m = _RECREATE_GROUP_RE.search(ev.message)
        if m:
            return int(m.group(1)), None
        if ev.related_kind == "Pod" and ev.related_name:
            rel = object_group("Pod", ev.related_name, lws)
            if rel is not None:
                return rel
    return where


def events_of_lws(events: Iterable[Event], lws: str, *, others: Sequence[str] = ()) -> list[LwsEvent]:
    """The events of LWS ``lws``'s objects (also of ones deleted since), each with its group.

    ``others`` are the other LWS names in the namespace: an LWS named ``<lws>-1`` owns objects whose
    names look like group 1's, so those are left to it.
    """
    longer = [o for o in others if o != lws and o.startswith(lws + "-")]
    out = []
    for ev in events:
        if ev.kind == LWS_KIND and ev.object_name != lws:
            continue
        if longer and any(ev.object_name == o or ev.object_name.startswith(o + "-") for o in longer):
            continue
        where = event_group(ev, lws)
        if where is None:
            continue
        out.append(LwsEvent(ev, where[0], where[1]))
    return out


# ---- causes ----------------------------------------------------------------------------------------

def _failed_create_text(message: str) -> str:
    """``Create Pod x in StatefulSet y failed error: pods "x" is forbidden: exceeded quota: ...`` ->
    ``exceeded quota: ...`` (the part an operator acts on)."""
    text = message.split(" failed error: ", 1)[-1]
    text = re.sub(r'^pods "[^"]*" is forbidden: ', "", text).strip()
    m = _QUOTA_RE.search(text)
    if m:  # one line: "exceeded quota gpu (pods 3/3)"
        used = dict(kv.split("=", 1) for kv in m.group("used").split(",") if "=" in kv)
        limited = dict(kv.split("=", 1) for kv in m.group("limited").split(",") if "=" in kv)
        parts = [f"{r} {used.get(r, '?')}/{v}" for r, v in limited.items()]
        return f"exceeded quota {m.group('name')} ({', '.join(parts)})"
    return text


_QUOTA_RE = re.compile(r"exceeded quota: (?P<name>[^,]+), requested: (?P<req>\S+), used: (?P<used>\S+), "
                       r"limited: (?P<limited>\S+)")


def _short_scheduler(message: str) -> str:
    text = message.replace(" nodes are available:", " nodes:").split(" preemption:")[0]
    return text.split(". ")[0].strip().rstrip(".,")


def _event_cause(ev: Event, worker: int | None) -> Cause | None:
    r = ev.reason
    w = who(worker)

    def cause(reason: str, summary: str, blocking: bool = True) -> Cause:
        return Cause(reason, ev.message, summary, ev.object, ev.first, ev.count, blocking, EVENTS)

    if r == "FailedCreate":
        return cause(r, f"{w} cannot be created: {_failed_create_text(ev.message)}")
    if r == "FailedScheduling":
        return cause(r, f"{w} unschedulable ({_short_scheduler(ev.message)})")
    if r in ("Preempted", "Evicted"):
        return cause(r, f"{w} {r.lower()}: {ev.message}")
    if r in ("FailedMount", "FailedAttachVolume"):
        return cause(r, f"{w} {r}: {ev.message}")
    if r == "Failed" and "pull" in ev.message.lower() and "image" in ev.message.lower():
        return cause("ErrImagePull", f"{w} {ev.message}")
    if r == "BackOff" and "pulling image" in ev.message:
        return cause("ImagePullBackOff", f"{w} {ev.message}")
    if r == "Unhealthy":
        return cause(r, f"{w} {ev.message}", blocking=False)
    return None


def group_cause(*, pods: Sequence[dict], missing: Sequence[int], leader_missing: bool,
                events: Sequence[LwsEvent], extra: Sequence[Cause] = (), now: datetime | None = None) -> Cause | None:
    """The most specific cause of one unhealthy group (``causes.rank``), or None.

    ``pods`` are the group's live pods (their own status gives causes of layer ``pods``);
    ``missing`` the worker indexes with no pod (0 = the leader); ``events`` the group's events
    (``events_of_lws`` filtered on the group, empty when not read); ``extra`` causes other layers
    found (admission, gang scheduling...). A ``FailedCreate`` only counts for a pod that is still
    missing; a pod's events only for the pod that exists now (same uid when the event carries one),
    so a previous incarnation's trouble is not blamed on this one.
    """
    candidates: list[tuple[tuple, Cause]] = []
    missing_set = set(missing) | ({0} if leader_missing else set())
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    for le in events:
        ev = le.event
        if ev.reason == "FailedCreate":
            if le.worker is None or le.worker not in missing_set:
                continue
        elif ev.kind == "Pod":
            pod = by_name.get(ev.object_name)
            if pod is None:
                continue
            uid = (pod.get("metadata") or {}).get("uid")
            if ev.object_uid and uid and ev.object_uid != uid:
                continue
            if ev.reason == "FailedScheduling" and (pod.get("spec") or {}).get("nodeName"):
                continue  # scheduled since
        else:
            continue
        cause = _event_cause(ev, le.worker)
        if cause is not None:
            candidates.append(((rank(cause), le.worker or 0, -_ts(ev.last)), cause))
    for pod in pods:
        w = worker_index(pod)
        candidates.extend(((rank(c), w or 0, 0.0), c) for c in pod_causes(pod, w))
    candidates.extend(((rank(c), 0, 0.0), c) for c in extra)
    if not candidates:
        return None
    # most specific reason first, then the leader before workers, then the newest
    candidates.sort(key=lambda kc: kc[0])
    top_rank = candidates[0][0][0]
    best = candidates[0][1]
    if best.reason in ("OOMKilled", "ExitCode"):
        # a crash loop has been so since the kubelet's first "Back-off restarting failed container"
        pod_name = best.object.split("/", 1)[-1]
        backoffs = [le.event for le in events if le.event.reason == "BackOff" and le.event.object_name == pod_name
                    and "restarting failed container" in le.event.message and le.event.first]
        if backoffs:
            first = min(backoffs, key=lambda e: _ts(e.first))
            best = replace(best, since=first.first)
    if best.since is None:
        # a status-only cause (image pull): as old as the matching event when there is one
        same = [c for key, c in candidates if key[0] == top_rank and c.since is not None]
        if same:
            best = replace(best, message=same[0].message if best.reason in IMAGE_WAITING else best.message,
                           since=same[0].since, count=same[0].count)
    return best


# ---- re-creation history ---------------------------------------------------------------------------

def _spread(ev: Event) -> list[datetime]:
    """The times of an aggregated event's occurrences (first..last, evenly; kube keeps only those two)."""
    last = ev.last or ev.first
    if last is None:
        return []
    first = ev.first or last
    n = max(ev.count, 1)
    if n == 1:
        return [last]
    step = (last - first) / (n - 1)
    return [first + step * i for i in range(n)]


def is_loop(times: Sequence[datetime], *, count: int = LOOP_COUNT, window: timedelta = LOOP_WINDOW) -> bool:
    """``count`` or more times inside any ``window``."""
    ts = sorted(times)
    return any(ts[i + count - 1] - ts[i] <= window for i in range(len(ts) - count + 1))


def recreations(events: Iterable[LwsEvent], *, now: datetime | None = None,
                leaders: dict[int, str | None] | None = None) -> dict[int, Recreations]:
    """Group index -> re-creations, counted by leader incarnations replaced, never by occurrences.

    A ``RecreateGroup`` event (on the LWS) names the leader it deleted in ``related`` (golden B.4):
    each distinct leader uid there is one re-creation, however many times the controller recorded
    it (a real controller sometimes writes one twice, ``series.count 2`` on the same leader pod).
    A leader deleted by hand writes no ``RecreateGroup``, but its pod's own events carry its uid:
    every leader uid seen in events that is not the live leader (``leaders``: group -> live leader
    uid; without it, the newest uid seen stands for it) was replaced too. Only a ``RecreateGroup``
    with no related uid (older controllers) is counted by its occurrences. Only re-creations
    within the last ``LOOP_WINDOW`` make a loop (``now`` matters: old bursts are history).
    """
    now = now or utc_now()
    replaced: dict[int, dict[str, tuple[datetime | None, str | None]]] = {}  # group -> uid -> (when, why)
    unnamed: dict[int, list[tuple[Event, str]]] = {}
    seen_leaders: dict[int, dict[str, tuple[datetime | None, datetime | None]]] = {}  # uid -> (first, last)
    for le in events:
        ev = le.event
        if le.group is None:
            continue
        if ev.kind == LWS_KIND and ev.reason == "RecreateGroup":
            if ev.related_kind == "Pod" and ev.related_uid:
                old = replaced.setdefault(le.group, {}).get(ev.related_uid)
                if old is None or (ev.first and (old[0] is None or ev.first < old[0])):
                    replaced[le.group][ev.related_uid] = (ev.first or ev.last, ev.message)
            else:
                unnamed.setdefault(le.group, []).append((ev, ev.message))
        elif ev.kind == "Pod" and le.worker == 0 and ev.object_uid:
            first, last = seen_leaders.setdefault(le.group, {}).get(ev.object_uid, (None, None))
            seen_leaders[le.group][ev.object_uid] = (_earliest(first, ev.first), _latest(last, ev.last or ev.first))
    out: dict[int, Recreations] = {}
    for g in set(replaced) | set(unnamed) | set(seen_leaders):
        named = replaced.get(g, {})
        uids = seen_leaders.get(g, {})
        live = leaders.get(g) if leaders is not None else max(uids, key=lambda u: _ts(uids[u][0]), default=None)
        gone = dict(named)
        for uid, (_, last) in uids.items():
            if uid != live and uid not in gone:
                gone[uid] = (last, "new leader pod")
        moments = list(gone.values())
        if unnamed.get(g):
            # an older controller's events name no leader: count their occurrences, unless the
            # leaders seen in events say more (the two cannot be matched one to one)
            counted = list(named.values()) + [(t, why) for ev, why in unnamed[g] for t in _spread(ev) or [None]]
            moments = max(counted, moments, key=len)
        rec = Recreations()
        rec.count = len(moments)
        rec.times = sorted(t for t, _ in moments if t is not None)
        dated = [(t, why) for t, why in moments if t is not None]
        if dated:
            rec.last, rec.last_reason = max(dated, key=lambda m: m[0])
        rec.recent = [t for t in rec.times if now - t <= LOOP_WINDOW]
        rec.loop = is_loop(rec.recent)
        if rec.count:
            out[g] = rec
    return out


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def recreation_text(rec: Recreations | None, now: datetime | None = None) -> str:
    """The RECREATED cell: ``-``, ``2 (5m ago)``, ``3 (1m ago) loop``."""
    if rec is None or not rec.count:
        return "-"
    now = now or utc_now()
    ago = f" ({for_text((now - rec.last).total_seconds())} ago)" if rec.last else ""
    return f"{rec.count}{ago}" + (" loop" if rec.loop else "")


# ---- kubectl's aggregation text --------------------------------------------------------------------

def aggregate_text(ev: Event, now: datetime | None = None) -> str:
    """``x12 over 5m`` when an event happened more than once (kubectl events' LAST SEEN column)."""
    if ev.count <= 1 or ev.first is None:
        return ""
    span = ((ev.last or now or utc_now()) - ev.first).total_seconds()
    return f"x{ev.count} over {for_text(span)}"
