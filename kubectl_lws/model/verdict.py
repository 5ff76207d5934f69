"""The one verdict: the state of an LWS and of each of its groups, and why, from what was read.

Every view calls ``judge``: ``list``, ``status``, ``status -w`` (and the other users of the live
view in ``waiting.py``), ``-o json``, ``--exit-code``, ``report``, and the DisaggregatedSet views
(once per child LWS). They differ in what they read and how they draw it, never in the verdict:
given the same facts, every view shows the same state, reason and causes.

Interface
---------
``Facts`` is what was read; only ``lws`` is required, every other field says "not read" when None:

* ``lws``: the LeaderWorkerSet object (a raw dict, or an ``LwsView``).
* ``pods``: its pods (slim records are enough). None: not read, and the verdict comes from the LWS
  status alone, which is only allowed when ``settled_by_status`` holds (``list`` at fleet scale).
* ``nodes``: the nodes its pods run on (name -> node, or a NodeList's items). None: not read (then
  no group can be NodeNotReady).
* ``events``: the events of its namespace, normalised (``model/events.normalize_all``). None: not
  read (no event causes, re-creation history unknown rather than zero).
* ``events_info``: how the events were read (``api``, ``truncated``) or why they could not be
  (``error``); shown as ``events`` in ``status -o json``.
* ``causes``: group index -> causes found by further layers (admission queues, gang schedulers,
  volume claims, how the last incarnation ended...), each a ``model/causes.Cause`` with its
  ``layer`` and, if it must rank apart from the reason table, a ``priority`` (``waits``: a queue's
  wait, never Stuck). ``kubectl_lws.layers`` reads them (``model/admission`` decides them). A later
  reader adds a field here or fills ``causes``; ``judge`` does not change.
* ``now`` (the clock, for ages) and ``stuck_after`` (seconds a cause must hold for Stuck).

``judge(facts, health=None) -> Assessment`` (``model/health.Assessment``): ``state`` and ``reason``
of the LWS; for each group ``state``, ``reason``, ``cause`` (with ``layer``: ``pods`` for what the
pods' own status says, ``events`` for an event, or the further layer's name), ``recreations`` and
``stuck``; ``source`` (``pods`` or ``lws-status``) and ``events_info``. A group's ``recreations`` carry
how its last incarnation ended (``last_end``: THE rule for it, used by every view's ``loop: ...``
reason). ``health`` is the pods' assessment when the caller already made it to apply the rule below
(``assess_pods``).

Two rules decide what must be read, so that every view reads the same for the same LWS:

* ``events_needed(a)``: events are read when some group is not Ready, or a live leader is younger
  than the re-creation-loop window (a loop's last re-creation made the current leader).
* ``settled_by_status(view, now)``: the LWS status alone is enough for ``list`` (which then reads no
  pods for this LWS): a v0.9+ controller has observed the current generation, every counter equals
  ``spec.replicas``, ``Available`` is the only condition that is True and has been for the
  re-creation-loop window (a re-creation or any group going unready flips it), no rollout is
  paused, the LWS is not being deleted. What such a row has and has not checked: docs/list.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from kubectl_lws.model import incarnation, keys
from kubectl_lws.model.causes import Cause, Recreations, for_text
from kubectl_lws.model.events import (LOOP_WINDOW, Event, LwsEvent, events_of_lws, group_cause, other_lws_names,
                                      recreations)
from kubectl_lws.model.groups import Group, LwsView, lws_view
from kubectl_lws.model.health import (HEALTHY, PENDING, RECREATING, STUCK, Assessment, assess, lws_state)
from kubectl_lws.model.timeutil import parse_time, utc_now

LOOP_SECONDS = LOOP_WINDOW.total_seconds()


@dataclass
class Facts:
    """What was read about one LWS (see the module docstring: None = not read)."""

    lws: dict | LwsView
    pods: Sequence[dict] | None = None
    nodes: Mapping[str, dict] | Iterable[dict] | None = None
    events: Sequence[Event] | None = None
    events_info: dict | None = None
    causes: Mapping[int, Sequence[Cause]] = field(default_factory=dict)
    now: datetime | None = None
    stuck_after: float = 300.0

    @property
    def view(self) -> LwsView:
        return self.lws if isinstance(self.lws, LwsView) else lws_view(self.lws)


def assess_pods(facts: Facts) -> Assessment:
    """What the pods (and nodes) alone say: the input of ``events_needed``, then of ``judge``."""
    if facts.pods is None:
        return judge(facts)
    return assess(facts.view, facts.pods, nodes=facts.nodes, now=facts.now or utc_now())


def events_needed(a: Assessment) -> bool:
    """THE rule for reading events: some group not Ready, or a leader young enough for a loop."""
    if a.source != "pods":
        return False  # settled_by_status: Available has held for the whole loop window
    return any(not g.group_ready or (g.leader and g.age_seconds is not None and g.age_seconds < LOOP_SECONDS)
               for g in a.groups)


def settled_by_status(view: LwsView, now: datetime | None = None) -> bool:
    """Whether the LWS status alone is enough for a verdict (see the module docstring)."""
    st = view.status
    if view.observed_generation is None or view.observed_generation != view.generation:
        return False  # before v0.9 readyReplicas counted groups with Pending workers as ready (reference §3)
    if (view.raw.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if view.annotations.get(keys.PAUSED_PARTITION_ANNOTATION) is not None:
        return False
    n = view.replicas
    if any(int(st.get(k) or 0) != n for k in ("replicas", "readyReplicas", "updatedReplicas")):
        return False
    available = view.condition("Available")
    if not available or available.get("status") != "True":
        return False
    if available.get("observedGeneration") not in (None, view.generation):
        return False
    if any(c.get("status") == "True" and c.get("type") != "Available" for c in st.get("conditions") or []):
        return False  # Progressing, UpdateInProgress, or one we do not know: look at the pods
    since = parse_time(available.get("lastTransitionTime"))
    return since is not None and ((now or utc_now()) - since).total_seconds() >= LOOP_SECONDS


def judge(facts: Facts, *, health: Assessment | None = None) -> Assessment:
    """The verdict on one LWS from ``facts`` (``health``: ``assess_pods(facts)`` if already made)."""
    view = facts.view
    now = facts.now or utc_now()
    if facts.pods is None:
        if not settled_by_status(view, now):
            raise ValueError(f"{view.namespace}/{view.name}: the LWS status is not enough, its pods must be read")
        return _from_status(view)
    a = health if health is not None else assess(view, facts.pods, nodes=facts.nodes, now=now)
    mine: list[LwsEvent] | None = None
    if facts.events is not None:
        mine = events_of_lws(facts.events, view.name, others=other_lws_names(facts.events, view.name))
    by_group: dict[int, list[LwsEvent]] = {}
    for le in mine or ():
        if le.group is not None:
            by_group.setdefault(le.group, []).append(le)
    history = None if mine is None else \
        recreations(mine, now=now, leaders={g.index: g.leader_uid for g in a.groups})
    for g in a.groups:
        g.recreations = None if history is None else history.get(g.index, Recreations())
        if g.recreations is not None and g.recreations.count:
            g.recreations.last_end, g.recreations.last_end_from = last_end(g.group, g.recreations, view)
        if g.group_ready:
            continue  # Ready (perhaps outdated): an old termination or event is history, not a cause
        group = g.group
        cause = group_cause(pods=list(group.pods) if group is not None else [], missing=g.missing,
                            leader_missing=group is None or group.leader is None,
                            events=by_group.get(g.index, []), extra=facts.causes.get(g.index, ()), now=now)
        if cause is None:
            continue
        g.cause = cause
        held = (now - cause.since).total_seconds() if cause.since else None
        g.stuck = held is not None and held >= facts.stuck_after and not cause.waits
        g.reason = cause.summary + (f" (for {for_text(held)})" if held is not None else "")
        if g.stuck:
            g.state = STUCK
        elif cause.blocking and g.state == RECREATING:
            g.state = PENDING
    for g in a.groups:
        rec = g.recreations
        if rec is not None and rec.loop and g.cause is None:
            g.reason = f"{g.reason}; {rec.text(now)}" if g.reason else rec.text(now)
    a.state, a.reason = lws_state(view, a.groups, a.current_revision)
    if facts.events is not None:
        a.events_info = {**(facts.events_info or {}), "read": True}
    elif facts.events_info is not None:
        a.events_info = {**facts.events_info, "read": False}
    return a


def last_end(group: Group | None, rec: Recreations, view: LwsView) -> tuple[str | None, str | None]:
    """How the group's last incarnation ended (``w3 exit 137 OOMKilled``) and where that was read, or (None, None).

    THE rule, for every view, on the rule ``record`` and ``history`` name endings with
    (``incarnation.decide_end``: the first container that ended before the deletion began, or a disruption).
    The pods first: the live ones (a restart the controller is about to answer with a re-creation: the
    incarnation ending now), then the Terminating ones of the incarnation just replaced, which keep their
    ``lastState`` until they stop. Only under a re-creating restart policy does a container's ending end the
    incarnation. Without either, the last ``RecreateGroup`` event names the pod that failed (``w1 failed``):
    events carry no exit code."""
    if group is not None:
        for pods in (group.pods, group.terminating):
            end = incarnation.decide_end(incarnation.pods_evidence(group.index, pods, view.name))
            if end["kind"] in incarnation.POD_ENDS and (end["kind"] != incarnation.CONTAINER
                                                        or view.restart_policy != "None"):
                return incarnation.end_text(end), "pods"
    pod = incarnation.failed_pod(rec.last_reason or "")
    if pod is not None:
        worker = incarnation.worker_of(pod, view.name)
        return f"{pod if worker is None else incarnation.who(worker)} failed", "events"
    return None, None


def _from_status(view: LwsView) -> Assessment:
    """A settled LWS as its status says (``settled_by_status``): what ``lws_state`` says of all-Ready groups."""
    n = view.replicas
    st = view.status
    return Assessment(view=view, state=HEALTHY, reason=f"{n}/{n} groups ready" if n else "scaled to 0",
                      current_revision=None, groups=[], desired=n, ready=int(st.get("readyReplicas") or 0),
                      updated=int(st.get("updatedReplicas") or 0), current=int(st.get("replicas") or 0),
                      source="lws-status")
