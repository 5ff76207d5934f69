"""Reading what the one verdict needs (``model/verdict``), the same way for every view.

``status``, ``report``, ``list`` (and the DisaggregatedSet views) read an LWS's facts here, so that
the same LWS at the same moment gets the same facts, hence the same verdict:

* pods: one LWS's by its name label; for ``list``, only the LWS whose status is not enough
  (``verdict.settled_by_status``), by ``name in (...)`` selectors;
* nodes: only those the pods run on (``Cluster.list_nodes_named``); forbidden: None, one warning;
* events: the namespace's, one LIST with the routine reasons left out on the server (its first
  ``EVENTS_LIMIT``), read only when ``verdict.events_needed`` says so (or ``status --events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from kubectl_lws import errors

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.model.groups import LwsView
    from kubectl_lws.model.health import Assessment

# The admission/gang/storage layers (kubectl_lws.layers): (pods' assessment, raw events or None) ->
# group index -> causes; for many LWS: [assessments] -> id(assessment) -> group index -> causes.
Layers = Callable[["Assessment", "list[dict] | None"], "dict[int, list]"]
ManyLayers = Callable[["list[Assessment]"], "dict[int, dict[int, list]]"]

# Said once when nodes cannot be read (common for namespace users); one text for every view.
NODES_FORBIDDEN = ("cannot list nodes (forbidden): placement shows node names only; "
                   "NotReady nodes are not detected (use --no-placement to skip)")
LIST_NODES_FORBIDDEN = "cannot list nodes (forbidden): groups on NotReady nodes are not detected"
# Said once when events cannot be read; the command itself goes on.
EVENTS_FORBIDDEN = ("cannot list events ({why}): causes of unhealthy groups and re-creation history "
                    "are unavailable")
# One page of events is enough to explain groups (routine reasons are left out on the server).
EVENTS_LIMIT = 5000
# `list -A`: the pods and events of up to this many namespaces are read one namespace at a time (for
# events, the very LIST `status` makes); more namespaces are read in one cluster-wide LIST.
NAMESPACE_LISTS = 4


def read_nodes(app: Any, pods: Iterable[dict], *, forbidden_text: str = NODES_FORBIDDEN) -> list[dict] | None:
    """The nodes these pods run on (slim records), or None when nodes may not be read."""
    names = {(p.get("spec") or {}).get("nodeName") for p in pods}
    try:
        return app.cluster.list_nodes_named(names, slim=True)
    except errors.Forbidden:
        app.warn(forbidden_text)
        return None


def namespace_events(app: Any, namespace: str | None) -> tuple[list[dict] | None, dict]:
    """The non-routine events of a namespace (None: every namespace), raw, and how they were read;
    ``(None, {"error": ...})`` with one warning when they may not be read."""
    from kubectl_lws.model.events import noise_field_selector

    try:
        items, info = app.cluster.list_events(namespace, field_selector=noise_field_selector(),
                                              limit=EVENTS_LIMIT if namespace else None,
                                              all_namespaces=namespace is None)
    except (errors.Forbidden, errors.NotFound) as exc:
        app.warn(EVENTS_FORBIDDEN.format(why="forbidden" if isinstance(exc, errors.Forbidden) else "not served"))
        return None, {"error": str(exc.message)}
    if info.get("truncated"):
        app.warn(f"more than {EVENTS_LIMIT} events in {namespace}: causes come from the first {EVENTS_LIMIT}")
    return items, info


def verdict(obj: dict, pods: Sequence[dict], nodes: Any, *,
            events: Callable[[], tuple[list[dict] | None, dict]], read_events: bool | None = None,
            stuck_after: float = 300.0, layers: Layers | None = None) -> "Assessment":
    """The verdict on one LWS whose pods (and nodes) were read, with events as the rule says.

    ``events``: where the namespace's raw events come from, called only when they are needed and
    returning ``(items or None, info)``: ``namespace_events`` for ``status``, what ``report`` read
    already, what the live view's stream holds. ``read_events``: None follows
    ``verdict.events_needed``; True / False force them (``status --events/--no-events``).
    ``layers``: the admission/gang/storage causes of the groups not Ready (``layers.LayerReader.causes``,
    given the pods' assessment and the raw events read, or None), for ``Facts.causes``.
    """
    from kubectl_lws.model import events as E
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.model.verdict import Facts, assess_pods, events_needed, judge

    facts = Facts(obj, pods, nodes, now=utc_now(), stuck_after=stuck_after)
    health = assess_pods(facts)
    items = None
    if not (read_events is False or (read_events is None and not events_needed(health))):
        items, info = events()
        facts.events = None if items is None else E.normalize_all(E.raw_of_lws(items, health.view.name))
        facts.events_info = info
    if layers is not None and any(not g.group_ready for g in health.groups):
        facts.causes = layers(health, items)
    return judge(facts, health=health)


# ---- many LWS at once (list) --------------------------------------------------------------------------

def verdicts(app: Any, objs: Sequence[dict], *, namespace: str | None, all_namespaces: bool,
             selected: bool, layers: ManyLayers | None = None) -> list["Assessment"]:
    """The verdict on every LWS of ``objs`` (one LIST of LWS), reading as little as the rules allow.

    An LWS whose status is enough (``settled_by_status``) costs nothing more; the pods of the others
    are read in as few LISTs as selectors allow (``selected``: ``objs`` came from a label selector,
    so not every LWS of the scope is among them), then the nodes they run on, then the events of
    the namespaces where ``events_needed`` holds for some LWS; ``layers``: the admission/gang/storage
    causes of the LWS with a group not Ready (``layers.LayerReader.causes_all``), their reads merged.
    """
    from kubectl_lws.model import events as E
    from kubectl_lws.model.groups import lws_view, pods_by_lws
    from kubectl_lws.model.slim import building_records
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.model.verdict import Facts, assess_pods, events_needed, judge, settled_by_status

    now = utc_now()
    views = [lws_view(o) for o in objs]
    unsettled = [v for v in views if not settled_by_status(v, now)]
    to_read = {(v.namespace, v.name) for v in unsettled}
    pods = _pods_of(app, unsettled, every=not selected and len(unsettled) == len(views),
                    namespace=namespace, all_namespaces=all_namespaces) if unsettled else []
    nodes = read_nodes(app, pods, forbidden_text=LIST_NODES_FORBIDDEN) if pods else None
    facts: list[Facts] = []
    healths: list[Assessment] = []
    with building_records():
        by_lws = pods_by_lws(pods)
        for v in views:
            key = (v.namespace, v.name)
            f = Facts(v, by_lws.get(key, []) if key in to_read else None, nodes, now=now)
            facts.append(f)
            healths.append(assess_pods(f))
    wanted: dict[str, set[str]] = {}
    for h in healths:
        if events_needed(h):
            wanted.setdefault(h.view.namespace, set()).add(h.view.name)
    raw: dict[str, tuple[dict[str, list[dict]] | None, dict]] = {}
    if wanted:
        spaces = sorted(wanted)
        if all_namespaces and len(spaces) > NAMESPACE_LISTS:
            items, info = namespace_events(app, None)
            split: dict[str, list[dict]] = {}
            for item in items or ():
                split.setdefault((item.get("metadata") or {}).get("namespace", ""), []).append(item)
            for ns in spaces:
                raw[ns] = (None if items is None else E.raw_by_lws(split.get(ns, []), wanted[ns]), info)
        else:
            for ns in spaces:
                items, info = namespace_events(app, ns)
                raw[ns] = (None if items is None else E.raw_by_lws(items, wanted[ns]), info)
    if layers is not None:
        waiting = [h for f, h in zip(facts, healths)
                   if f.pods is not None and any(not g.group_ready for g in h.groups)]
        found = layers(waiting) if waiting else {}
        for f, h in zip(facts, healths):
            f.causes = found.get(id(h), {})
    out = []
    for f, h in zip(facts, healths):
        v = h.view
        if v.name in wanted.get(v.namespace, ()):
            by_name, info = raw[v.namespace]
            f.events = None if by_name is None else E.normalize_all(by_name.get(v.name, []))
            f.events_info = info
        out.append(judge(f, health=h) if f.pods is not None else h)
    return out


def _pods_of(app: Any, views: Sequence["LwsView"], *, every: bool, namespace: str | None,
             all_namespaces: bool) -> list[dict]:
    """The pods of these LWS (slim records): one LIST on the name label's existence when they are
    every LWS of the scope, else ``name in (...)`` LISTs, per namespace when few namespaces hold
    them (so no LWS of the same name elsewhere is read), cluster-wide otherwise."""
    from kubectl_lws.cluster import MAX_SELECTED_LISTS, selector_chunks
    from kubectl_lws.model.keys import NAME_LABEL

    cluster = app.cluster
    scope = None if all_namespaces else namespace
    wanted = {(v.namespace, v.name) for v in views}
    spaces = sorted({v.namespace for v in views})
    plans: list[tuple[str | None, str]] | None = None  # (namespace or None for all, selector)
    if not every:
        groups = [(ns, sorted(v.name for v in views if v.namespace == ns)) for ns in spaces] \
            if not all_namespaces or len(spaces) <= NAMESPACE_LISTS else [(None, sorted({v.name for v in views}))]
        plans = []
        for ns, names in groups:
            chunks = selector_chunks(NAME_LABEL, names)
            if chunks is None:
                plans = None
                break
            plans.extend((ns, c) for c in chunks)
        if plans is not None and len(plans) > MAX_SELECTED_LISTS:
            plans = None
    if plans is None:
        return cluster.list_pods(scope, label_selector=NAME_LABEL, all_namespaces=all_namespaces, slim=True)
    out: list[dict] = []
    for ns, selector in plans:
        pods = cluster.list_pods(ns, label_selector=selector, all_namespaces=ns is None, slim=True)
        out.extend(p for p in pods if ((p.get("metadata") or {}).get("namespace", ""),
                                       ((p.get("metadata") or {}).get("labels") or {}).get(NAME_LABEL)) in wanted)
    return out
