"""From what the user named to the objects it stands for: one LWS, or a DisaggregatedSet and its child LWS.

The one reusable piece every command adopts for ``ds/NAME`` (and for an LWS a DisaggregatedSet owns):
``resolve`` reads the named object (GET; not-found errors with close names; ``DsApiMissing`` where the
DisaggregatedSet CRD is not installed) and, for a DisaggregatedSet, its child LWS with role, slice and
revision (one LIST by the DS's name label). ``read_ds`` reads what ``model.ds.assess_ds`` needs, in a
fixed number of requests whatever the size of the set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_lws import errors
from kubectl_lws.model import keys
from kubectl_lws.model.ds import ChildRef, child_ref, children_of
from kubectl_lws.model.target import Target

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster


@dataclass
class Resolved:
    """A target, read: ``lws`` (and its ``owner`` when a DS made it) or ``ds`` with its ``children``."""

    target: Target
    namespace: str
    lws: dict | None = None
    owner: ChildRef | None = None
    ds: dict | None = None
    children: list[tuple[ChildRef, dict]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.target.name

    def child_names(self) -> list[str]:
        return [lws["metadata"]["name"] for _, lws in self.children]


def resolve(cluster: "Cluster", target: Target, namespace: str | None = None, *,
            children: bool = True) -> Resolved:
    """GET the target (and LIST a DisaggregatedSet's child LWS unless ``children`` is False)."""
    ns = namespace or cluster.namespace
    if target.is_ds:
        ds = cluster.get_ds(target.name, ns)
        kids = list_children(cluster, ds, ns) if children else []
        return Resolved(target, ns, ds=ds, children=kids)
    lws = cluster.get_lws(target.name, ns)
    return Resolved(target, ns, lws=lws, owner=child_ref(lws))


def list_children(cluster: "Cluster", ds: dict, namespace: str) -> list[tuple[ChildRef, dict]]:
    """The child LWS of a DisaggregatedSet (selected on the server by its name label), sorted by slice, role
    (in the set's order) and age."""
    name = ds["metadata"]["name"]
    items = cluster.list_lws(namespace, label_selector=keys.ds_selector(name))
    order = {r.get("name"): i for i, r in enumerate((ds.get("spec") or {}).get("roles") or [])}
    kids = children_of(name, items)
    kids.sort(key=lambda k: (k[0].slice, order.get(k[0].role, len(order)), k[0].role,
                             k[1]["metadata"].get("creationTimestamp") or "", k[1]["metadata"]["name"]))
    return kids


@dataclass
class DsRead:
    """The raw objects behind one ``status ds/NAME``: each list is one request (paged, slim pods)."""

    ds: dict
    lws: list[dict]
    pods: list[dict]
    services: list[dict]
    scalers: list[dict] | None = None    # None: not read (no External role)
    hpas: list[dict] = field(default_factory=list)
    nodes: list[dict] | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read (said once on stderr)


def has_external_roles(ds: dict) -> bool:
    """Whether a role takes its count from a role scaler (whose LIST the views then need)."""
    from kubectl_lws.model.ds import EXTERNAL

    return any(((r.get("scaling") or {}).get("mode") == EXTERNAL) for r in (ds.get("spec") or {}).get("roles") or [])


def read_ds(cluster: "Cluster", name: str, namespace: str | None = None, *, ds: dict | None = None,
            nodes: bool = False) -> DsRead:
    """GET the DS, LIST its child LWS, its pods (slim) and its ``-prv`` Services (all by the DS's name label):
    4 requests. An External role adds the LIST of role scalers and of HPAs (best effort); ``nodes`` the node
    LIST (placement, NotReady nodes)."""
    ns = namespace or cluster.namespace
    ds = ds if ds is not None else cluster.get_ds(name, ns)
    selector = keys.ds_selector(name)
    lws = cluster.list_lws(ns, label_selector=selector)
    pods = cluster.list_pods(ns, label_selector=selector, slim=True)
    notes: list[str] = []
    try:
        services = cluster.list("services", ns, label_selector=selector)[0]
    except errors.Forbidden:
        services = []
        notes.append("cannot list Services (forbidden): whether each -prv Service exists is unknown")
    read = DsRead(ds, lws, pods, services, notes=notes)
    if has_external_roles(ds):
        try:
            read.scalers = cluster.list("disaggregatedsetrolescalers", ns, label_selector=selector)[0]
        except (errors.Forbidden, errors.NotFound) as exc:
            read.scalers = []
            notes.append(f"cannot list DisaggregatedSetRoleScalers ({_why(exc)}): External roles show no desired count")
        try:
            read.hpas = cluster.list("horizontalpodautoscalers", ns)[0]
        except errors.LwsError:
            read.hpas = []
    if nodes:
        try:
            read.nodes = cluster.list_nodes(slim=True)
        except errors.Forbidden:
            read.nodes = None
            notes.append("cannot list nodes (forbidden): NotReady nodes are not detected")
    return read


def _why(exc: Any) -> str:
    return "forbidden" if isinstance(exc, errors.Forbidden) else "not served"
