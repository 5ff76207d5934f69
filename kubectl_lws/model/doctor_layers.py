"""``doctor``: the admission and gang layers (Kueue, Volcano, KAI-Scheduler, the Workload/PodGroup API)
and claims: installed, which versions, whether they manage this namespace's LWS, what you may read.

Why in doctor: ``status`` explains a waiting group from these layers only when it may read them; a user
told "cannot read Kueue workloads" once per status wants to know, up front, what is installed and which
Role would let them see the cause. Pure functions over discovery, the LWS list, controller Deployments
and access reviews, in the shape of ``model.doctor`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from kubectl_lws.model import admission as A
from kubectl_lws.model.doctor import INFO, PASS, WARN, Check, Perm, image_tag


@dataclass(frozen=True)
class Layer:
    key: str  # the JSON ``layer`` of its causes
    name: str
    group: str
    versions: tuple[str, ...]
    # where its release manifests install its controller (namespace, deployment)
    controller: tuple[str, str] | None
    perms: tuple[Perm, ...]


LAYERS: tuple[Layer, ...] = (
    Layer(A.KUEUE, "Kueue", A.KUEUE_GROUP, A.KUEUE_VERSIONS, ("kueue-system", "kueue-controller-manager"),
          (Perm("kueue-workloads", "list", "workloads", A.KUEUE_GROUP),
           Perm("kueue-pending", "get", "localqueues", A.VISIBILITY_GROUP, "pendingworkloads"),
           Perm("kueue-clusterqueues", "list", "clusterqueues", A.KUEUE_GROUP, cluster=True))),
    Layer(A.VOLCANO, "Volcano", A.VOLCANO_GROUP, A.VOLCANO_VERSIONS, ("volcano-system", "volcano-scheduler"),
          (Perm("volcano-podgroups", "list", "podgroups", A.VOLCANO_GROUP),)),
    Layer(A.KAI, "KAI-Scheduler", A.KAI_GROUP, A.KAI_VERSIONS, ("kai-scheduler", "kai-scheduler-default"),
          (Perm("kai-podgroups", "list", "podgroups", A.KAI_GROUP),)),
    Layer(A.SCHEDULING, "Workload/PodGroup API", A.NATIVE_GROUP, A.NATIVE_VERSIONS, None,
          (Perm("native-podgroups", "list", "podgroups", A.NATIVE_GROUP),)),
)
STORAGE_PERMS: tuple[Perm, ...] = (Perm("storage-claims", "list", "persistentvolumeclaims"),
                                   Perm("storage-classes", "get", "storageclasses", "storage.k8s.io", cluster=True))
ALL_PERMS: tuple[Perm, ...] = tuple(p for layer in LAYERS for p in layer.perms) + STORAGE_PERMS


def _templates(lws: dict) -> list[dict]:
    lwt = ((lws.get("spec") or {}).get("leaderWorkerTemplate")) or {}
    return [t for t in (lwt.get("leaderTemplate"), lwt.get("workerTemplate")) if isinstance(t, dict)]


def managed(lws_items: Iterable[dict]) -> dict[str, list[str]]:
    """layer -> names of the LWS here that go through it, from the LWS alone (doctor reads no pods)."""
    out: dict[str, list[str]] = {}
    for lws in lws_items:
        meta = lws.get("metadata") or {}
        name = meta.get("name", "?")
        found = set()
        if (meta.get("labels") or {}).get(A.QUEUE_LABEL):
            found.add(A.KUEUE)
        if (meta.get("annotations") or {}).get(A.VOLCANO_QUEUE_ANNOTATION):
            found.add(A.VOLCANO)
        for t in _templates(lws):
            scheduler = (t.get("spec") or {}).get("schedulerName")
            if scheduler == A.VOLCANO_SCHEDULER:
                found.add(A.VOLCANO)
            elif scheduler == A.KAI_SCHEDULER:
                found.add(A.KAI)
        if (((lws.get("spec") or {}).get("leaderWorkerTemplate")) or {}).get("volumeClaimTemplates"):
            found.add(A.STORAGE)
        for layer in found:
            out.setdefault(layer, []).append(name)
    return out


def _names(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (f" +{len(items) - limit}" if len(items) > limit else "")


def check_layers(served: A.Served | None, served_error: str | None, controllers: dict[str, tuple[dict | None, str | None]],
                 lws_items: list[dict] | None, allowed: dict[str, bool | None], namespace: str) -> tuple[list[Check], dict]:
    """One finding per layer (installed or not, versions, controller, the LWS it manages here), one per
    layer in use about what you may read of it, and the claims. Returns the checks and their JSON."""
    checks: list[Check] = []
    doc: dict = {}
    uses = managed(lws_items or [])
    if served is None:
        checks.append(Check("Layers", "discovery", WARN, f"cannot read API discovery ({served_error}): admission "
                            "and gang layers not checked", "ask for the system:discovery role"))
        return checks, doc
    for layer in LAYERS:
        versions = list(served.groups.get(layer.group) or ())
        usable = served.version(layer.group, layer.versions)
        mine = uses.get(layer.key, [])
        entry: dict = {"group": layer.group, "served": versions, "managesHere": mine}
        doc[layer.key] = entry
        if usable is None:
            if mine:
                checks.append(Check("Layers", layer.key, WARN, f"{_names(mine)} here ask for {layer.name}, but "
                                    f"{layer.group} is not served: their pods wait for a scheduler or gate nobody runs",
                                    f"install {layer.name}, or remove its keys from those LWS"))
            else:
                checks.append(Check("Layers", layer.key, INFO, f"{layer.name} absent: {layer.group} is not served"))
            continue
        parts = [f"{layer.group} served: {', '.join(versions)}"]
        if layer.key == A.KUEUE:
            vis = served.version(A.VISIBILITY_GROUP, A.VISIBILITY_VERSIONS)
            entry["visibility"] = vis
            parts.append(f"visibility API {vis}" if vis else "visibility API not served (no queue positions)")
        if layer.controller is not None:
            obj, err = controllers.get(layer.key, (None, "notfound"))
            cns, cname = layer.controller
            if obj is not None:
                from kubectl_lws.model.doctor import controller_image

                image = controller_image(obj)
                tag = image_tag(image)
                entry["controller"] = {"deployment": f"{cns}/{cname}", "image": image}
                parts.append(f"controller {cns}/{cname}" + (f" {tag}" if tag else ""))
            else:
                why = {"forbidden": "forbidden", "notfound": "no such deployment"}.get(err or "", f"could not check: {err}")
                parts.append(f"controller not read at {cns}/{cname} ({why})")
        parts.append(f"manages {len(mine)} LWS in {namespace}" + (f" ({_names(mine)})" if mine else ""))
        checks.append(Check("Layers", layer.key, INFO, "; ".join(parts)))
        checks.append(_access(layer.key, layer.name, layer.perms, allowed, namespace, bool(mine), entry))
    if uses.get(A.STORAGE):
        entry = {"managesHere": uses[A.STORAGE]}
        doc[A.STORAGE] = entry
        checks.append(_access(A.STORAGE, "claims", STORAGE_PERMS, allowed, namespace, True, entry))
    return checks, doc


def _access(key: str, name: str, perms: tuple[Perm, ...], allowed: dict[str, bool | None], namespace: str,
            in_use: bool, entry: dict) -> Check:
    ok = [p for p in perms if allowed.get(p.key) is True]
    denied = [p for p in perms if allowed.get(p.key) is False]
    unknown = [p for p in perms if allowed.get(p.key) is None]
    entry["access"] = {p.label(): allowed.get(p.key) for p in perms}
    where = lambda p: "cluster-wide" if p.cluster else f"in {namespace}"  # noqa: E731
    if not denied and not unknown:
        return Check("Layers", f"{key} access", PASS, f"you may {', '.join(p.label() + ' ' + where(p) for p in ok)}")
    # a cluster-scoped read (ClusterQueues, StorageClasses) is a nicety: its absence is INFO
    essential = [p for p in denied if not p.cluster]
    text = f"you may not {', '.join(p.label() + ' ' + where(p) for p in denied)}" if denied else ""
    if unknown:
        text += ("; " if text else "") + f"could not check {', '.join(p.label() for p in unknown)}"
    if essential and in_use:
        what = "admission causes" if key == A.KUEUE else "claim causes" if key == A.STORAGE else "gang causes"
        grants = ", ".join(f"{p.verb} {p.resource}" + (f"/{p.subresource}" if p.subresource else "")
                           + (f" ({p.group})" if p.group else "") for p in essential)
        return Check("Layers", f"{key} access", WARN, f"{text}: {what} of waiting groups are not shown",
                     f"ask for a Role granting {grants}")
    return Check("Layers", f"{key} access", INFO, text)
