"""What goes into a ``kubectl lws report`` bundle: redaction, node summaries, event filtering, the manifest.

Pure functions over API dicts. Redaction is by construction plus a walk: the report never asks for
Secrets (so their data cannot be written), and every ``env`` entry whose name looks secret has its
literal value replaced, wherever it sits (pods, StatefulSet and LWS templates, ControllerRevision
data, the last-applied-configuration annotation).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable

from kubectl_lws.model.envcheck import MASK, is_secret_name

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _redact_walk(node: Any) -> int:
    """Mask secret-looking env values in place; returns how many were masked."""
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "value" in item and is_secret_name(str(item.get("name", ""))):
                        if item["value"] not in ("", MASK):
                            item["value"] = MASK
                            count += 1
            count += _redact_walk(value)
    elif isinstance(node, list):
        for item in node:
            count += _redact_walk(item)
    return count


def redact(obj: dict, *, drop_managed_fields: bool = False, in_place: bool = False) -> tuple[dict, int]:
    """``obj`` with secret-looking env values masked (also inside last-applied); (object, masked).

    A copy unless ``in_place`` (the report redacts in place once nothing else reads the objects:
    deep copies of 512 pods cost more than fetching them)."""
    out = obj if in_place else copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    if drop_managed_fields:
        meta.pop("managedFields", None)
    masked = _redact_walk(out)
    annotations = meta.get("annotations") or {}
    if LAST_APPLIED in annotations:
        try:
            applied = json.loads(annotations[LAST_APPLIED])
        except ValueError:
            annotations[LAST_APPLIED] = MASK  # unparseable: it may hold anything
            masked += 1
        else:
            n = _redact_walk(applied)
            if n:
                annotations[LAST_APPLIED] = json.dumps(applied, separators=(",", ":"))
                masked += n
    return out, masked


def command_line(argv: list[str]) -> list[str]:
    """``kubectl lws ARGS`` as typed, credentials masked: what a bundle or a recording says ran it."""
    out, mask_next = [], False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if arg in ("--token", "--client-key", "--password"):
            out.append(arg)
            mask_next = True
            continue
        if arg.startswith(("--token=", "--password=")):
            out.append(arg.split("=", 1)[0] + "=" + MASK)
            continue
        out.append(arg)
    return ["kubectl", "lws", *out]


def slim(obj: dict) -> dict:
    """A copy without managedFields (half of a pod's bytes, rarely what a ticket needs)."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def node_summary(node: dict) -> dict:
    """What placement questions need of a node: labels, taints, conditions, capacity (no images, no addresses)."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    return {"name": meta.get("name"), "labels": meta.get("labels") or {},
            "unschedulable": bool(spec.get("unschedulable")), "taints": spec.get("taints") or [],
            "conditions": [{k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")
                            if c.get(k) is not None} for c in status.get("conditions") or []],
            "capacity": status.get("capacity") or {}, "allocatable": status.get("allocatable") or {},
            "kubeletVersion": info.get("kubeletVersion")}


def pod_nodes(pods: Iterable[dict]) -> list[str]:
    return sorted({n for p in pods if (n := (p.get("spec") or {}).get("nodeName"))})


def related_events(events: Iterable[dict], uids: set[str], names: set[tuple[str, str]],
                   api: str = "v1") -> list[dict]:
    """Events whose involvedObject (core/v1) or regarding (events.k8s.io/v1) is one of the LWS's objects.

    Matched by UID, or by (kind, name) for objects already deleted and re-created (a re-created
    group keeps its pod names but not their UIDs, and its history matters most).
    """
    field = "involvedObject" if api == "v1" else "regarding"
    out = []
    for ev in events:
        ref = ev.get(field) or {}
        if ref.get("uid") in uids or (ref.get("kind"), ref.get("name")) in names:
            out.append(ev)
    return sorted(out, key=_event_time)


def _event_time(ev: dict) -> str:
    return str(ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("series") or {}).get("lastObservedTime")
               or ev.get("deprecatedLastTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp") or "")


def owned_names(lws: dict, statefulsets: Iterable[dict], pods: Iterable[dict],
                services: Iterable[dict]) -> tuple[set[str], set[tuple[str, str]]]:
    """UIDs and (kind, name) pairs of everything that belongs to the LWS."""
    uids: set[str] = set()
    names: set[tuple[str, str]] = set()
    for kind, objs in (("LeaderWorkerSet", [lws]), ("StatefulSet", statefulsets), ("Pod", pods),
                       ("Service", services)):
        for o in objs:
            meta = o.get("metadata") or {}
            if meta.get("uid"):
                uids.add(meta["uid"])
            if meta.get("name"):
                names.add((kind, meta["name"]))
    return uids, names


def as_list(items: list[dict], api_version: str = "v1") -> dict:
    """kubectl's ``kind: List`` wrapper, so each file can be fed back to ``kubectl apply --dry-run``."""
    return {"apiVersion": api_version, "kind": "List", "items": items}


def webhook_summary(config: dict, now: Any) -> dict:
    """A webhook configuration with each caBundle replaced by its certificates' fingerprint and expiry."""
    from kubectl_lws.model.certs import CertError, parse_ca_bundle

    out = slim(copy.deepcopy(config))
    for hook in out.get("webhooks") or []:
        cc = hook.get("clientConfig") or {}
        if "caBundle" in cc:
            try:
                cc["caBundle"] = {"certificates": [c.to_dict(now) for c in parse_ca_bundle(cc["caBundle"])]}
            except CertError as exc:
                cc["caBundle"] = {"error": str(exc)}
    return out


def crd_summary(crd: dict) -> dict:
    spec = crd.get("spec") or {}
    return {"name": (crd.get("metadata") or {}).get("name"), "group": spec.get("group"),
            "versions": [{"name": v.get("name"), "served": v.get("served"), "storage": v.get("storage")}
                         for v in spec.get("versions") or []],
            "storedVersions": (crd.get("status") or {}).get("storedVersions") or []}
