"""Reading the admission, gang and storage layers for status, list and the watch.

Why its own module: ``model/admission`` decides what to read and what it means; ``Cluster`` sends the
requests; this joins them once for every view. Discovery (one GET /apis) is read at most once per
run and only when a not-Ready group goes through a layer that needs an API version; each layer is
one LIST (by label, or filtered to the names the pods carry); the queue position is one paged read
of Kueue's visibility API per LocalQueue, bounded. A layer we may not read gives one warning, never
a failure: the verdict then stands on pods and events as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence
from urllib.parse import quote

from kubectl_lws import errors
from kubectl_lws.model import admission as A

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.model.causes import Cause
    from kubectl_lws.model.events import Event
    from kubectl_lws.model.health import Assessment

# The visibility server is an aggregated API of its own: one that hangs must not hold the command.
VISIBILITY_TIMEOUT = 5.0
# Merged label selectors (list: many LWS of one namespace in one LIST) stay below this many values.
MAX_SELECTOR_VALUES = 50


def _why(exc: errors.LwsError) -> str:
    if isinstance(exc, errors.Forbidden):
        return "forbidden"
    if isinstance(exc, errors.NotFound):
        return "not served"
    if isinstance(exc, errors.RequestTimeout):
        return "timed out"
    if isinstance(exc, errors.Unreachable):
        return "unreachable"
    code = getattr(exc, "code", None)
    return f"HTTP {code}" if code else "failed"


class LayerReader:
    """One per command run: discovery cached, each warning said once."""

    def __init__(self, cluster: "Cluster", warn: Callable[[str], None]) -> None:
        self.cluster = cluster
        self._warn = warn
        self._said: set[str] = set()
        self._served: A.Served | None = None
        self._discovery_failed = False
        self._class_cache: dict[str, bool | None] = {}
        self._last: dict[int, A.Facts] = {}  # what the last causes_all read, by id(assessment)
        # the watch: LWS uid -> (when read, not-Ready groups then, facts), reused while fresh
        self._cache: dict[str, tuple[float, tuple[int, ...], A.Facts]] = {}

    def warn(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self._warn(message)

    def served(self) -> A.Served | None:
        if self._served is None and not self._discovery_failed:
            try:
                self._served = A.Served.from_group_list(self.cluster.api_groups())
            except errors.LwsError as exc:
                self._discovery_failed = True
                self.warn(f"cannot read API discovery ({_why(exc)}): admission and gang causes not shown")
        return self._served

    # ---- one LWS or many (list): the same reads, merged per namespace ------------------------------------
    def causes(self, a: "Assessment", events: Sequence["Event"] = (), *, max_age: float | None = None
               ) -> dict[int, list["Cause"]]:
        """Read what explains ``a``'s not-Ready groups: group index -> causes, the ``causes`` of
        ``model/verdict.Facts`` (``a`` is the pods' assessment the verdict is then judged on).

        ``max_age`` (the watch): what was read less than that many seconds ago for the same not-Ready
        groups is used again instead of read again, so a redraw per pod change costs nothing and the
        layers are re-read (a relist on change) at most that often.
        """
        import time

        waiting = tuple(g.index for g in a.groups if not g.group_ready)
        key = a.view.uid or f"{a.view.namespace}/{a.view.name}"
        cached = self._cache.get(key)
        if max_age is not None and cached is not None and waiting and cached[1] == waiting \
                and time.monotonic() - cached[0] < max_age:
            return self._causes(a, cached[2], events)
        out = self.causes_all([a], {id(a): events})
        facts = self._last.get(id(a))
        if facts is not None:
            self._cache[key] = (time.monotonic(), waiting, facts)
        return out.get(id(a), {})

    def causes_all(self, assessed: Sequence["Assessment"],
                   events: dict[int, Sequence["Event"]] | None = None) -> dict[int, dict[int, list["Cause"]]]:
        """``causes`` for many LWS at once (``list``): id(assessment) -> group index -> causes."""
        self._last = {}
        plans = {}
        for a in assessed:
            plan = A.plan(a.view, a.groups, None)
            if any(not g.group_ready for g in a.groups):
                plans[id(a)] = plan
        if not plans:
            return {}
        served = self.served() if any(p.needs_discovery for p in plans.values()) else None
        if served is not None:
            plans = {k: A.plan(next(a.view for a in assessed if id(a) == k),
                               next(a.groups for a in assessed if id(a) == k), served) for k in plans}
        facts = {k: A.Facts(served=served, missing=dict(p.missing)) for k, p in plans.items()}
        self._read(assessed, plans, facts)
        self._classes(assessed, facts)
        self._positions(assessed, facts, served)
        self._last = facts
        return {id(a): self._causes(a, facts[id(a)], (events or {}).get(id(a), ()))
                for a in assessed if id(a) in facts}

    @staticmethod
    def _causes(a: "Assessment", f: A.Facts, events: Sequence["Event"]) -> dict[int, list["Cause"]]:
        """The causes, kept on each group too (JSON ``causes``), and what was read (JSON ``admission``)."""
        causes = A.group_causes(a.view, a.groups, f, events)
        for g in a.groups:
            g.layer_causes = list(causes.get(g.index, ()))
        info = f.to_json()
        tas = A.tas_by_group(a.view, a.groups, f)
        info["tas"] = {str(i): {ps: t.to_json() for ps, t in sorted(by.items())} for i, by in sorted(tas.items())}
        a.admission_info = info
        return causes

    def _read(self, assessed: Sequence["Assessment"], plans: dict[int, A.Plan], facts: dict[int, A.Facts]) -> None:
        """One request per (layer, namespace): reads of several LWS are merged (label values joined with
        ``in (...)``, names united) and the answer split back per LWS (the model keeps what is its own)."""
        merged: dict[tuple, list[tuple[int, A.Read]]] = {}
        for key, plan in plans.items():
            for read in plan.reads:
                merged.setdefault((read.layer, read.path), []).append((key, read))
        for (layer, _path), members in merged.items():
            read = _merge([r for _, r in members])
            try:
                items = self.cluster.read_layer(read.path, label_selector=read.label_selector, names=read.names,
                                                fallback_names=read.fallback_names)
            except errors.LwsError as exc:
                why = _why(exc)
                self.warn(A.unread_warning(layer, why))
                for key, _ in members:
                    facts[key].unread[layer] = why
                continue
            for key, _ in members:
                facts[key].objects[layer] = items

    def _classes(self, assessed: Sequence["Assessment"], facts: dict[int, A.Facts]) -> None:
        """One GET per StorageClass a Pending claim names: a 404 is the cause ("no StorageClass")."""
        for a in assessed:
            f = facts.get(id(a))
            if f is None:
                continue
            for name in sorted(A.classes_to_check(a.view, a.groups, f)):
                if name not in self._class_cache:
                    try:
                        self.cluster.get("storageclasses", name)
                        self._class_cache[name] = True
                    except errors.NotFound:
                        self._class_cache[name] = False
                    except errors.LwsError:
                        self._class_cache[name] = None  # forbidden (cluster-scoped): the claim says what it can
                f.classes[name] = self._class_cache[name]

    def _positions(self, assessed: Sequence["Assessment"], facts: dict[int, A.Facts],
                   served: A.Served | None) -> None:
        """The queue position of pending Workloads: one paged visibility read per LocalQueue."""
        wanted: dict[tuple[str, str], set[str]] = {}
        owners: dict[tuple[str, str], list[int]] = {}
        by_key = {id(a): a for a in assessed}
        for key, f in facts.items():
            for queue, names in A.queue_lookups(f).items():
                qk = (by_key[key].view.namespace, queue)
                wanted.setdefault(qk, set()).update(names)
                owners.setdefault(qk, []).append(key)
        if not wanted:
            return
        version = served.version(A.VISIBILITY_GROUP, A.VISIBILITY_VERSIONS) if served is not None else None
        if version is None:
            for keys_ in owners.values():
                for key in keys_:
                    facts[key].queue_unread = "visibility API not served"
            return
        for (ns, queue), names in wanted.items():
            path = (f"/apis/{A.VISIBILITY_GROUP}/{version}/namespaces/{quote(ns, safe='')}/localqueues/"
                    f"{quote(queue, safe='')}/pendingworkloads")
            try:
                found, seen, complete = self.cluster.pending_workloads(
                    path, names, page=A.QUEUE_PAGE, bound=A.QUEUE_BOUND, timeout=VISIBILITY_TIMEOUT)
            except errors.LwsError as exc:
                why = _why(exc)
                self.warn(f"cannot read the queue position in LocalQueue {queue} ({why}): positions not shown")
                for key in owners[(ns, queue)]:
                    facts[key].queue_unread = why
                continue
            for key in owners[(ns, queue)]:
                f = facts[key]
                for name, item in found.items():
                    f.queue[name] = A.QueueSpot(queue, _int(item.get("positionInLocalQueue")),
                                                _int(item.get("positionInClusterQueue")))
                if not complete:
                    for name in names - found.keys():
                        f.queue_truncated[name] = seen


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _merge(reads: Sequence[A.Read]) -> A.Read:
    """One read for several LWS of a namespace: ``k=v1`` + ``k=v2`` -> ``k in (v1,v2)``; names united."""
    first = reads[0]
    if len(reads) == 1:
        return first
    selectors = [r.label_selector for r in reads]
    selector: str | None = None
    if all(s and "=" in s and "," not in s for s in selectors):
        pairs = [s.split("=", 1) for s in selectors if s]
        if len({k for k, _ in pairs}) == 1 and len(pairs) <= MAX_SELECTOR_VALUES:
            selector = f"{pairs[0][0]} in ({','.join(sorted({v for _, v in pairs}))})"
    names: frozenset[str] = frozenset().union(*(r.names for r in reads)) if all(r.names for r in reads) \
        else frozenset()
    fallback = tuple(n for r in reads for n in r.fallback_names)[:3]
    return A.Read(first.layer, first.group, first.version, first.plural, first.namespace, selector, names, fallback)
