"""Causes: why a group is not Ready, from whichever layer said it, and how they rank.

Why a module of its own: the pods (``model/health``), the events (``model/events``) and any further
layer (admission queues, gang schedulers, storage: other modules) each produce causes, and the one
verdict (``model/verdict``) picks the best of them per group. Keeping the type and the ranking here
lets each producer depend on this module only, never on each other (health and events used to
import each other for these two dataclasses).

Public API (pure; no network, no printing):

* ``Cause`` (``layer`` says who said it: ``pods``, ``events``, and later ``kueue``, ``volcano``...)
* ``pod_causes(pod, worker) -> list[Cause]``: image pulls and container terminations from the pod's status
* ``rank(cause) -> int``: how specific a cause is (``model/events.group_cause`` picks the best)
* ``Recreations``: a group's re-creation history (``model/events.recreations`` fills it)
* ``for_text(seconds)``: ``12m``-style durations
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from kubectl_lws.model.timeutil import parse_time, rfc3339
from kubectl_lws.model.words import plural

# Who said it. Other layers add their own names (kueue, volcano, kai, scheduling, storage).
PODS = "pods"
EVENTS = "events"

# kube-apiserver --event-ttl default: older events are gone, so history is "within the last hour".
EVENT_TTL_TEXT = "1h"


@dataclass(frozen=True)
class Cause:
    """Why one group is not Ready: one line for the STATE column, the whole message, its origin."""

    reason: str  # FailedCreate, FailedScheduling, ImagePullBackOff, OOMKilled, Unhealthy, ...
    message: str  # the whole message
    summary: str  # one line for the STATE column
    object: str  # Kind/name it is about
    since: datetime | None
    count: int
    blocking: bool  # will not fix itself: the group is failing, not progressing
    layer: str = PODS
    # Explicit rank for causes of other layers (lower first); None ranks by ``reason`` (``rank``).
    priority: int | None = None
    # Waiting by design (in a queue, a requeue back-off, for a gate's owner): never Stuck, however long
    # (the verdict still says for how long).
    waits: bool = False

    def to_json(self) -> dict:
        return {"reason": self.reason, "message": self.message, "object": self.object,
                "since": rfc3339(self.since) if self.since else None, "count": self.count, "layer": self.layer}


# most specific first (issue 12): creation, scheduling, eviction, volumes, images, crashes, probes
PRIORITY = ("FailedCreate", "FailedScheduling", "Preempted", "Evicted", "FailedMount", "FailedAttachVolume",
            "ImagePull", "OOMKilled", "ExitCode", "Unhealthy")
IMAGE_WAITING = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")


def rank(cause: Cause) -> int:
    """Lower is more specific (``PRIORITY``); an explicit ``priority`` wins; unknown reasons last."""
    if cause.priority is not None:
        return cause.priority
    reason = cause.reason
    key = "ImagePull" if reason in IMAGE_WAITING or reason in ("Failed", "BackOff") else reason
    return PRIORITY.index(key) if key in PRIORITY else len(PRIORITY)


def who(worker: int | None) -> str:
    """How a pod is named in causes: ``leader``, ``w3``, or ``group`` for the group as a whole."""
    if worker is None:
        return "group"
    return "leader" if worker == 0 else f"w{worker}"


def pod_causes(pod: dict, worker: int | None) -> list[Cause]:
    """Image pulls and terminations from the pod's own status (layer ``pods``: no event needed)."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    out: list[Cause] = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in IMAGE_WAITING:
            image = cs.get("image") or ""
            msg = waiting.get("message") or f'{waiting["reason"]} for image "{image}"'
            out.append(Cause(waiting["reason"], msg, f"{who(worker)} {waiting['reason']} {image}".strip(),
                             f"Pod/{name}", None, 1, True))
        # the newest ending: a container that has just ended again (state) before the kubelet restarts it
        # says more than the run before it (lastState)
        term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term and (term.get("reason") == "OOMKilled" or (term.get("exitCode") or 0) != 0):
            code = term.get("exitCode")
            oom = term.get("reason") == "OOMKilled"
            restarts = int(cs.get("restartCount") or 0)
            what = "OOMKilled" if oom else f"exited with code {code}"
            if waiting.get("reason") == "CrashLoopBackOff":
                what = f"CrashLoopBackOff: {what}"
            detail = f"container {cs.get('name')} " + ("OOMKilled" if oom else f"exited with code {code}") \
                + (f" (exit code {code})" if oom else "")
            if term.get("message"):
                detail += f": {term['message'].strip()}"
            out.append(Cause("OOMKilled" if oom else "ExitCode", detail + (f", {restarts} restarts" if restarts else ""),
                             f"{who(worker)} {what}" + (f" ({plural(restarts, 'restart')})" if restarts else ""),
                             f"Pod/{name}", parse_time(term.get("finishedAt")), max(restarts, 1), True))
    return out


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


@dataclass
class Recreations:
    """Re-creations of one group within the events' retention: one per leader incarnation replaced."""

    count: int = 0
    last: datetime | None = None
    last_reason: str | None = None
    loop: bool = False
    times: list[datetime] = field(default_factory=list)
    recent: list[datetime] = field(default_factory=list)  # the times inside the loop window (10 minutes)
    # How the last incarnation ended, when known (``model/verdict.last_end``): ``w3 exit 137 OOMKilled`` from
    # the pods' termination records, ``w1 failed`` from the RecreateGroup event alone; ``last_end_from`` says which.
    last_end: str | None = None
    last_end_from: str | None = None

    def to_json(self) -> dict:
        return {"count": self.count, "last": rfc3339(self.last) if self.last else None,
                "lastReason": self.last_reason, "loop": self.loop, "lastEnd": self.last_end,
                "lastEndFrom": self.last_end_from,
                "window": f"events kept by the API server (default {EVENT_TTL_TEXT})"}

    def text(self, now: datetime) -> str:
        """The reason of a looping group: ``loop: w3 exit 137 OOMKilled, 3 in 4m`` (how the last incarnation
        ended, the re-creations in the loop window and since the first of them), or without that end
        ``re-creation loop: 3 re-creations, last 2m ago``."""
        if self.last_end and self.recent:
            return f"loop: {self.last_end}, {len(self.recent)} in {for_text((now - self.recent[0]).total_seconds())}"
        last = f", last {for_text((now - self.last).total_seconds())} ago" if self.last else ""
        return f"re-creation loop: {plural(self.count, 're-creation')}{last}"
