"""Reading what the placement map needs, for ``map``, ``report`` and the dashboard's first draw.

Requests, whatever the size: the LWS (one GET, or one LIST of a namespace or of all), one LIST of the
pods of the cluster that hold resources (``status.phase`` neither Succeeded nor Failed, as ``kubectl
describe node`` counts them), one LIST of nodes, and — only when no ``--topology-key`` is given — one
GET of the Kueue API group (and a LIST of its Topologies when it is served). Events are
read (one LIST) only when some group is not Ready, to give its cause, as ``status`` does.

Namespace users often may read neither nodes nor other namespaces' pods: the map then degrades
(node names from the pods; "other pods" from the namespace only) and says so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from kubectl_lws import errors
from kubectl_lws.model import placemap as M

# Pods that hold node resources (kube-scheduler counts every pod bound to a node that has not ended).
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_VERSIONS = ("v1beta2", "v1beta1", "v1alpha1")  # the ones that served Topology, newest first
NODES_FORBIDDEN = ("cannot list nodes (forbidden): the map shows node names from the pods only, without "
                   "levels, capacity or readiness")
PODS_FORBIDDEN = ("cannot list pods in every namespace (forbidden): '#' (accelerators used by other pods) "
                  "counts this namespace's pods only")
EVENTS_LIMIT = 5000


@dataclass
class MapScope:
    """What to map: one LWS (``name``), a namespace's LWS, or every namespace's."""

    namespace: str | None
    name: str | None = None
    all_namespaces: bool = False

    def lws_objects(self, cluster: Any) -> list[dict]:
        if self.name:
            return [cluster.get_lws(self.name, self.namespace)]
        objs = cluster.list_lws(self.namespace, all_namespaces=self.all_namespaces)
        return sorted(objs, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", "")))


def read_pods(app: Any, namespace: str | None) -> tuple[list[dict], str]:
    """Every active pod of the cluster (slim), else of ``namespace``: (pods, "cluster"|"namespace")."""
    try:
        return app.cluster.list_pods(field_selector=ACTIVE_PODS, all_namespaces=True, slim=True), "cluster"
    except errors.Forbidden:
        app.warn(PODS_FORBIDDEN)
        return app.cluster.list_pods(namespace, field_selector=ACTIVE_PODS, slim=True), "namespace"


def read_nodes(app: Any) -> list[dict] | None:
    try:
        return app.cluster.list_nodes(slim=True)
    except errors.Forbidden:
        app.warn(NODES_FORBIDDEN)
        return None


def kueue_topologies(cluster: Any) -> list[dict]:
    """Kueue Topology objects when Kueue serves them; [] when it is not installed or not readable."""
    try:
        group = cluster.request("GET", f"/apis/{KUEUE_GROUP}")
    except (errors.NotFound, errors.Forbidden):
        return []
    served = [v.get("version") for v in (group or {}).get("versions") or []]
    for version in [v for v in KUEUE_VERSIONS if v in served]:
        try:
            data = cluster.request("GET", f"/apis/{KUEUE_GROUP}/{version}/topologies")
        except errors.NotFound:
            continue  # this version has no Topology kind
        except errors.Forbidden:
            return []
        return list((data or {}).get("items") or [])
    return []


def explain_all(app: Any, assessments: Sequence[Any], scope: MapScope, stuck_after: float = 300.0) -> None:
    """Causes from events (one LIST) for the groups that are not Ready; silent when events cannot be read."""
    from kubectl_lws.model import events as E

    wanted = [a for a in assessments if E.needs_events(a)]
    if not wanted:
        return
    namespaces = {a.view.namespace for a in wanted}
    try:
        if len(namespaces) == 1 and not scope.all_namespaces:
            items, _ = app.cluster.list_events(next(iter(namespaces)), field_selector=E.noise_field_selector(),
                                               limit=EVENTS_LIMIT)
        else:
            items, _ = app.cluster.list_events(field_selector=E.noise_field_selector(), limit=EVENTS_LIMIT,
                                               all_namespaces=True)
    except (errors.Forbidden, errors.NotFound):
        return
    for a in wanted:
        ns = a.view.namespace
        mine = [e for e in items if ((e.get("metadata") or {}).get("namespace") or ns) == ns]
        E.explain(a, E.normalize_all(E.raw_of_lws(mine, a.view.name)), stuck_after=stuck_after)


def read_map(app: Any, scope: MapScope, *, topology_keys: Sequence[str] = (), resource: str | None = None,
             read_events: bool = True) -> M.ClusterMap:
    """One map from the cluster (see the module docstring for the requests)."""
    from kubectl_lws.model.groups import lws_view, pods_by_lws
    from kubectl_lws.model.health import assess, nodes_by_name
    from kubectl_lws.model.timeutil import utc_now

    cluster = app.cluster
    objs = scope.lws_objects(cluster)
    pods, others = read_pods(app, scope.namespace)
    nodes = read_nodes(app)
    topologies = kueue_topologies(cluster) if not topology_keys and nodes is not None else []
    kueue = M.kueue_levels(topologies)
    views = [lws_view(o) for o in objs]
    levels, source = M.detect_levels(nodes or [], views, explicit=topology_keys, kueue=kueue)
    node_map = nodes_by_name(nodes)
    now = utc_now()
    by_lws = pods_by_lws(pods)
    assessments = {(v.namespace, v.name): assess(v, by_lws.get((v.namespace, v.name), []), nodes=node_map, now=now)
                   for v in views}
    if read_events:
        explain_all(app, list(assessments.values()), scope)
    return M.build_map(objs, pods, nodes, levels=levels, levels_from=source, resource=resource,
                       others_scope=others, assessments=assessments, now=now)
