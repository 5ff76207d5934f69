"""Events of one LWS: normalise both APIs, deduplicate, map to groups, explain groups, re-creations.

Why a model of its own: ``status`` (causes of unhealthy groups), ``events`` (the timeline) and the
support-bundle ``report`` all need the same reading of events, and events come in two shapes:
core/v1 (``involvedObject``, ``message``, ``count``, ``first/lastTimestamp``, often null since the
events.k8s.io recorder writes ``eventTime``) and events.k8s.io/v1 (``regarding``, ``note``,
``series``, ``deprecated*``). Both APIs serve the same stored events (golden ``events/``): the same
uid comes back from each, so deduplication is by uid first.

Public API (pure functions over raw API dicts; no network, no printing):

* ``normalize(raw) -> Event | None`` and ``normalize_all(items) -> list[Event]`` (deduplicated, by last time)
* ``object_group(kind, name, lws) -> (group, worker) | None`` and ``events_of_lws(events, lws) -> list[LwsEvent]``
* ``group_cause(...) -> Cause | None``: the most specific reason one group is not Ready
* ``recreations(events, lws, now=...) -> dict[int, Recreations]``: re-creation history per group
* ``NOISE_REASONS`` / ``noise_field_selector()``: the routine reasons a status LIST leaves out server-side
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, Sequence

from kubectl_lws.model.groups import worker_index
from kubectl_lws.model.timeutil import parse_time, rfc3339, utc_now
from kubectl_lws.model.words import plural

if TYPE_CHECKING:  # pragma: no cover - health imports nothing from here at run time
    from kubectl_lws.model.health import Assessment

LWS_KIND = "LeaderWorkerSet"

# Routine reasons, one or more per pod and group created: a status explaining failures skips them
# on the server (field selectors AND their requirements, so ``reason!=X,reason!=Y`` narrows one LIST).
NOISE_REASONS = ("Scheduled", "SuccessfulCreate", "SuccessfulDelete", "Pulling", "Pulled", "Created",
                 "Started", "Killing", "GroupsProgressing", "AllGroupsReady", "GroupsUpdating",
                 "CreatingRevision", "SuccessfulAttachVolume")

# Re-creations inside this window, this many or more, make a re-creation loop (issue: 3 in 10 minutes).
LOOP_COUNT = 3
LOOP_WINDOW = timedelta(minutes=10)
# kube-apiserver --event-ttl default: older events are gone, so history is "within the last hour".
EVENT_TTL_TEXT = "1h"


def other_lws_names(events: Iterable[Event], lws: str) -> list[str]:
    """Other LWS whose names extend ``lws`` (``vllm-1`` next to ``vllm``), as the events name them: their
    objects look like ``lws``'s group objects and must be left to them (``events_of_lws(others=...)``)."""
    return sorted({e.object_name for e in events if e.kind == LWS_KIND and e.object_name.startswith(lws + "-")})


def noise_field_selector() -> str:
    return ",".join(f"reason!={r}" for r in NOISE_REASONS)


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
    prefix = lws + "-"
    out = []
    for raw in items:
        ref = raw.get("involvedObject") or raw.get("regarding") or {}
        name = ref.get("name") or ""
        if name == lws or name.startswith(prefix):
            out.append(raw)
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

@dataclass(frozen=True)
class Cause:
    """Why one group is not Ready, from an event or the pod's own status."""

    reason: str  # FailedCreate, FailedScheduling, ImagePullBackOff, OOMKilled, Unhealthy, ...
    message: str  # the whole message
    summary: str  # one line for the STATE column
    object: str  # Kind/name it is about
    since: datetime | None
    count: int
    blocking: bool  # will not fix itself: the group is failing, not progressing
    # where it was read (JSON ``layer``): "pods" (a pod's own status), "events", or an admission/gang
    # layer of model/admission: "kueue", "volcano", "kai", "scheduling", "storage"
    layer: str = "events"

    def to_json(self) -> dict:
        return {"reason": self.reason, "message": self.message, "object": self.object,
                "since": rfc3339(self.since) if self.since else None, "count": self.count,
                "layer": self.layer}


# most specific first (issue 12): creation, scheduling, eviction, volumes, images, crashes, probes
_PRIORITY = ("FailedCreate", "FailedScheduling", "Preempted", "Evicted", "FailedMount", "FailedAttachVolume",
             "ImagePull", "OOMKilled", "ExitCode", "Unhealthy")
_IMAGE_WAITING = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")


def _rank(reason: str) -> int:
    key = "ImagePull" if reason in _IMAGE_WAITING or reason in ("Failed", "BackOff") else reason
    return _PRIORITY.index(key) if key in _PRIORITY else len(_PRIORITY)


def _who(worker: int | None) -> str:
    if worker is None:
        return "group"
    return "leader" if worker == 0 else f"w{worker}"


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


def _container_state_causes(pod: dict, worker: int | None) -> list[Cause]:
    """Image pulls and terminations from the pod's own status (no event needed)."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    out: list[Cause] = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _IMAGE_WAITING:
            image = cs.get("image") or ""
            msg = waiting.get("message") or f'{waiting["reason"]} for image "{image}"'
            out.append(Cause(waiting["reason"], msg, f"{_who(worker)} {waiting['reason']} {image}".strip(),
                             f"Pod/{name}", None, 1, True, "pods"))
        term = (cs.get("lastState") or {}).get("terminated") or (cs.get("state") or {}).get("terminated")
        if term and (term.get("reason") == "OOMKilled" or (term.get("exitCode") or 0) != 0):
            code = term.get("exitCode")
            reason = "OOMKilled" if term.get("reason") == "OOMKilled" else "ExitCode"
            restarts = int(cs.get("restartCount") or 0)
            what = "OOMKilled" if reason == "OOMKilled" else f"exited with code {code}"
            if waiting.get("reason") == "CrashLoopBackOff":
                what = f"CrashLoopBackOff: {what}"
            detail = f"container {cs.get('name')} " + ("OOMKilled" if reason == "OOMKilled" else f"exited with code {code}") \
                + (f" (exit code {code})" if reason == "OOMKilled" else "")
            if term.get("message"):
                detail += f": {term['message'].strip()}"
            out.append(Cause(reason, detail + (f", {restarts} restarts" if restarts else ""),
                             f"{_who(worker)} {what}" + (f" ({plural(restarts, 'restart')})" if restarts else ""),
                             f"Pod/{name}", parse_time(term.get("finishedAt")), max(restarts, 1), True, "pods"))
    return out


def _event_cause(ev: Event, worker: int | None) -> Cause | None:
    r = ev.reason
    who = _who(worker)
    if r == "FailedCreate":
        text = _failed_create_text(ev.message)
        return Cause(r, ev.message, f"{who} cannot be created: {text}", ev.object, ev.first, ev.count, True)
    if r == "FailedScheduling":
        return Cause(r, ev.message, f"{who} unschedulable ({_short_scheduler(ev.message)})", ev.object, ev.first,
                     ev.count, True)
    if r in ("Preempted", "Evicted"):
        return Cause(r, ev.message, f"{who} {r.lower()}: {ev.message}", ev.object, ev.first, ev.count, True)
    if r in ("FailedMount", "FailedAttachVolume"):
        return Cause(r, ev.message, f"{who} {r}: {ev.message}", ev.object, ev.first, ev.count, True)
    if r == "Failed" and "pull" in ev.message.lower() and "image" in ev.message.lower():
        return Cause("ErrImagePull", ev.message, f"{who} {ev.message}", ev.object, ev.first, ev.count, True)
    if r == "BackOff" and "pulling image" in ev.message:
        return Cause("ImagePullBackOff", ev.message, f"{who} {ev.message}", ev.object, ev.first, ev.count, True)
    if r == "Unhealthy":
        return Cause(r, ev.message, f"{who} {ev.message}", ev.object, ev.first, ev.count, False)
    return None


def group_cause(*, pods: Sequence[dict], missing: Sequence[int], leader_missing: bool,
                events: Sequence[LwsEvent], now: datetime | None = None) -> Cause | None:
    """The most specific cause of one unhealthy group (see ``_PRIORITY``), or None.

    ``pods`` are the group's live pods; ``missing`` the worker indexes with no pod (0 = the leader);
    ``events`` the group's events (``events_of_lws`` filtered on the group). A ``FailedCreate`` only
    counts for a pod that is still missing; a pod's events only for the pod that exists now (same uid
    when the event carries one), so a previous incarnation's trouble is not blamed on this one.
    """
    candidates: list[tuple[int, int, Cause]] = []
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
            candidates.append((_rank(cause.reason), le.worker or 0, -int(_ts(ev.last)), cause))
    for pod in pods:
        w = worker_index(pod)
        for cause in _container_state_causes(pod, w):
            candidates.append((_rank(cause.reason), w or 0, 0, cause))
    if not candidates:
        return None
    # most specific reason first, then the leader before workers, then the newest
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    candidates = [(r, t, c) for r, _, t, c in candidates]
    best = candidates[0][2]
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
        same = [c for r, _, c in candidates if r == candidates[0][0] and c.since is not None]
        if same:
            best = replace(best, message=same[0].message if best.reason in _IMAGE_WAITING else best.message,
                           since=same[0].since, count=same[0].count)
    return best


def for_text(seconds: float) -> str:
    """``for 12m`` style durations (kubectl's HumanDuration rounding, coarse)."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


# ---- re-creation history ---------------------------------------------------------------------------

@dataclass
class Recreations:
    """Re-creations of one group within the events' retention."""

    count: int = 0
    last: datetime | None = None
    last_reason: str | None = None
    loop: bool = False
    times: list[datetime] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"count": self.count, "last": rfc3339(self.last) if self.last else None,
                "lastReason": self.last_reason, "loop": self.loop,
                "window": f"events kept by the API server (default {EVENT_TTL_TEXT})"}


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


def recreations(events: Iterable[LwsEvent], *, now: datetime | None = None) -> dict[int, Recreations]:
    """Group index -> re-creations, from ``RecreateGroup`` events on the LWS and leader incarnations.

    ``RecreateGroup`` is what the controller writes when it deletes a leader to re-create a group
    (golden B.4). A leader deleted by hand writes none, but each new leader pod is a new uid: the
    distinct uids of the leader's events, less one, are a lower bound used when they say more. Only
    re-creations within the last ``LOOP_WINDOW`` make a loop (``now`` matters: old bursts are history).
    """
    now = now or utc_now()
    out: dict[int, Recreations] = {}
    leader_uids: dict[int, dict[str, datetime | None]] = {}
    seen: set[str] = set()
    for le in events:
        ev = le.event
        if le.group is None:
            continue
        if ev.kind == LWS_KIND and ev.reason == "RecreateGroup":
            if ev.uid in seen:
                continue
            seen.add(ev.uid)
            rec = out.setdefault(le.group, Recreations())
            rec.count += max(ev.count, 1)
            rec.times.extend(_spread(ev))
            if ev.last and (rec.last is None or ev.last >= rec.last):
                rec.last, rec.last_reason = ev.last, ev.message
        elif ev.kind == "Pod" and le.worker == 0 and ev.object_uid:
            uids = leader_uids.setdefault(le.group, {})
            t = ev.first
            if ev.object_uid not in uids or (t and (uids[ev.object_uid] is None or t < uids[ev.object_uid])):
                uids[ev.object_uid] = t
    for g, uids in leader_uids.items():
        extra = len(uids) - 1
        rec = out.setdefault(g, Recreations())
        if extra > rec.count:
            births = sorted(t for t in uids.values() if t is not None)[1:]
            rec.count = extra
            rec.times = births
            if births and (rec.last is None or births[-1] > rec.last):
                rec.last = births[-1]
                rec.last_reason = rec.last_reason or "new leader pod"
    for rec in out.values():
        rec.times.sort()
        recent = [t for t in rec.times if now - t <= LOOP_WINDOW]
        rec.loop = is_loop(recent)
    return {g: r for g, r in out.items() if r.count}


# ---- kubectl's aggregation text --------------------------------------------------------------------

def aggregate_text(ev: Event, now: datetime | None = None) -> str:
    """``x12 over 5m`` when an event happened more than once (kubectl events' LAST SEEN column)."""
    if ev.count <= 1 or ev.first is None:
        return ""
    span = ((ev.last or now or utc_now()) - ev.first).total_seconds()
    return f"x{ev.count} over {for_text(span)}"


# ---- status: explain an assessment ------------------------------------------------------------------

def needs_events(a: "Assessment") -> bool:
    """Whether ``status`` reads events: only when some group is not Ready (healthy keeps its budget)."""
    return any(not g.group_ready for g in a.groups)


def recreation_possible(a: "Assessment", now: datetime | None = None) -> bool:
    """Whether a re-creation loop can exist: some group is not Ready, or a leader is younger than the
    loop window (a loop's last re-creation made the current leader). ``list`` reads RecreateGroup
    events only then, so a settled fleet keeps its two requests."""
    for g in a.groups:
        if not g.group_ready or (g.age_seconds is not None and g.age_seconds < LOOP_WINDOW.total_seconds()):
            return True
    return False


def explain(a: "Assessment", events: Sequence[Event] | None, *, stuck_after: float = 300.0,
            now: datetime | None = None, others: Sequence[str] = (), info: dict | None = None) -> "Assessment":
    """Give every unhealthy group of ``a`` (a health.Assessment) its cause and every group its
    re-creation history, mark groups stuck past ``stuck_after`` seconds, and re-derive the LWS state.

    A blocking cause (a pod that cannot be created, scheduled or pulled...) makes the group failing, so
    the LWS is Degraded, not Progressing: the controller cannot fix a quota. ``events`` None means
    they could not be read: nothing changes but ``a.events_info``.
    """
    from kubectl_lws.model import health as H

    a.events_info = dict(info or {}, read=events is not None)
    if events is None:
        return a
    now = now or utc_now()
    view = a.view
    others = list(others) or other_lws_names(events, view.name)
    mine = events_of_lws(events, view.name, others=others)
    by_group: dict[int, list[LwsEvent]] = {}
    for le in mine:
        if le.group is not None:
            by_group.setdefault(le.group, []).append(le)
    history = recreations(mine, now=now)
    changed = False
    for g in a.groups:
        g.recreations = history.get(g.index, Recreations())
        if g.recreations.loop:
            changed = True
        if g.healthy and g.group_ready:
            continue
        group = g.group
        pods = list(group.pods) if group is not None else []
        leader_missing = group is None or group.leader is None
        cause = group_cause(pods=pods, missing=g.missing, leader_missing=leader_missing,
                            events=by_group.get(g.index, []), now=now)
        if cause is None:
            continue
        g.cause = cause
        changed = True
        since = cause.since
        held = (now - since).total_seconds() if since else None
        g.stuck = held is not None and held >= stuck_after
        text = cause.summary + (f" (for {for_text(held)})" if held is not None else "")
        if g.stuck:
            g.state, g.reason = H.STUCK, text
        else:
            if cause.blocking and g.state == H.RECREATING:
                g.state = H.PENDING
            g.reason = text
    for g in a.groups:
        rec = g.recreations
        if rec is not None and rec.loop and g.cause is None:
            loop = f"re-creation loop: {rec.count} re-creations, last {for_text((now - rec.last).total_seconds())} ago" \
                if rec.last else f"re-creation loop: {rec.count} re-creations"
            g.reason = f"{g.reason}; {loop}" if g.reason else loop
    if changed:
        a.state, a.reason = H._lws_state(view, a.groups, a.current_revision)
    return a


def recreation_text(rec: Recreations | None, now: datetime | None = None) -> str:
    """The RECREATED cell: ``-``, ``2 (5m ago)``, ``3 (1m ago) loop``."""
    if rec is None or not rec.count:
        return "-"
    now = now or utc_now()
    ago = f" ({for_text((now - rec.last).total_seconds())} ago)" if rec.last else ""
    return f"{rec.count}{ago}" + (" loop" if rec.loop else "")


def mark_loops(a: "Assessment", events: Sequence[Event], *, now: datetime | None = None,
               others: Sequence[str] = ()) -> list[int]:
    """For ``list``: give each group its re-creation history and make an LWS with a looping group
    Degraded (a loop needs a human even while its groups look Ready). Returns the looping groups."""
    from kubectl_lws.model import health as H

    now = now or utc_now()
    history = recreations(events_of_lws(events, a.view.name, others=others), now=now)
    loops = []
    for g in a.groups:
        g.recreations = history.get(g.index, Recreations())
        if g.recreations.loop:
            loops.append(g.index)
    if loops and a.state not in (H.UNAVAILABLE, H.DEGRADED):
        rec = history[loops[0]]
        a.state = H.DEGRADED
        a.reason = (f"group {loops[0]} in a re-creation loop ({rec.count} re-creations"
                    + (f", last {for_text((now - rec.last).total_seconds())} ago" if rec.last else "") + ")"
                    + (f" (+{len(loops) - 1} more)" if len(loops) > 1 else ""))
    return loops
