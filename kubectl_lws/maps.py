"""Reading what the placement map needs, for ``map``, ``report`` and the dashboard's first draw.

Requests, whatever the size: the LWS (one GET, or one LIST of a namespace or of all; for ``ds/NAME`` the
set's GET and one LIST of its child LWS by the set's name label), one LIST of the
pods of the cluster that hold resources (``status.phase`` neither Succeeded nor Failed, as ``kubectl
describe node`` counts them), one LIST of nodes, and — only when no ``--topology-key`` is given — one
GET of the Kueue API group (and a LIST of its Topologies when it is served). Events (one LIST a
namespace) and the admission/gang/storage layers of groups not Ready (``layers.LayerReader``) are read
only when the one verdict (``reads.verdict``) needs them, as ``status`` reads them.

Namespace users often may read neither nodes nor other namespaces' pods: the map then degrades
(node names from the pods; "other pods" from the namespace only) and says so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

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


@dataclass
class MapScope:
    """What to map: one LWS (``name``), a DisaggregatedSet's child LWS (``name`` with ``ds``), a namespace's
    LWS, or every namespace's."""

    namespace: str | None
    name: str | None = None
    all_namespaces: bool = False
    ds: bool = False

    def lws_objects(self, cluster: Any) -> list[dict]:
        if self.name and self.ds:  # the set (GET), then its child LWS (one LIST by its name label)
            from kubectl_lws.targets import list_children

            ns = self.namespace or cluster.namespace
            return [lws for _, lws in list_children(cluster, cluster.get_ds(self.name, ns), ns)]
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


def events_reader(app: Any) -> Callable[[str], Callable[[], tuple[list[dict] | None, dict]]]:
    """``for_namespace(ns)`` gives the ``events`` source of ``reads.verdict``: the namespace's events,
    read once (one LIST) the first time any of its LWS needs them, as ``status`` reads them."""
    from kubectl_lws.reads import namespace_events

    read: dict[str, tuple[list[dict] | None, dict]] = {}

    def for_namespace(ns: str) -> Callable[[], tuple[list[dict] | None, dict]]:
        def events() -> tuple[list[dict] | None, dict]:
            if ns not in read:
                read[ns] = namespace_events(app, ns)
            return read[ns]

        return events

    return for_namespace


def read_map(app: Any, scope: MapScope, *, topology_keys: Sequence[str] = (),
             resource: str | None = None) -> M.ClusterMap:
    """One map from the cluster (see the module docstring for the requests)."""
    from kubectl_lws.model.groups import lws_view, pods_by_lws
    from kubectl_lws.reads import layer_reader, verdict

    cluster = app.cluster
    objs = scope.lws_objects(cluster)
    pods, others = read_pods(app, scope.namespace)
    nodes = read_nodes(app)
    topologies = kueue_topologies(cluster) if not topology_keys and nodes is not None else []
    kueue = M.kueue_levels(topologies)
    views = [lws_view(o) for o in objs]
    levels, source = M.detect_levels(nodes or [], views, explicit=topology_keys, kueue=kueue)
    by_lws = pods_by_lws(pods)
    events = events_reader(app)
    layers = layer_reader(app)
    # the one verdict on each LWS, as status gives it (events, and the admission/gang/storage layers, read
    # only when some group needs them)
    assessments = {(v.namespace, v.name): verdict(o, by_lws.get((v.namespace, v.name), []), nodes,
                                                  events=events(v.namespace), layers=layers)
                   for o, v in zip(objs, views)}
    return M.build_map(objs, pods, nodes, levels=levels, levels_from=source, resource=resource,
                       others_scope=others, assessments=assessments)
