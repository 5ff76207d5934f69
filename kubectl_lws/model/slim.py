"""Slim records: the parts of a pod or node that the health, topology and status models read.

Why: a real pod is about 7.3 KB as served, 3.2 KB of it ``managedFields`` and most of the rest the
spec (env, volumes, probes) that no verdict here looks at. ``status`` of 4,096 pods kept whole
holds about 200 MB of Python dicts; slim records keep about a tenth. Each page of a paged LIST
(and each watch event) is reduced to these records before the next is read, so memory grows with
the number of pods, never with the size of their bodies.

One schema, two decoders: with msgspec installed, ``decoder()`` builds a typed JSON decoder that
only materialises these fields (several times faster than ``json.loads`` on real pods, and it
never builds the dropped parts); without it, ``slim()`` filters what ``json.loads`` built. Both
give the same dicts (tests compare them, and ``status -o json`` from slim and full objects, on every
golden dump).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Iterator

ANY = None  # keep the value whole (leaf or a small subtree)

_META = {"name": ANY, "namespace": ANY, "uid": ANY, "resourceVersion": ANY, "generation": ANY,
         "creationTimestamp": ANY, "deletionTimestamp": ANY, "deletionGracePeriodSeconds": ANY,
         "labels": ANY, "annotations": ANY, "ownerReferences": ANY}
_CONTAINER = {"name": ANY, "image": ANY}

# kind -> schema: a dict keeps only its keys (recursively), a one-element list is a list of such
# items, ANY keeps the value as it is.
SCHEMAS: dict[str, dict] = {
    "pods": {
        "metadata": _META,
        # gates, node selector (a Kueue TAS assignment) and group references: what model/admission reads
        "spec": {"nodeName": ANY, "containers": [_CONTAINER], "initContainers": [_CONTAINER],
                 "restartPolicy": ANY, "schedulerName": ANY, "schedulingGates": ANY, "nodeSelector": ANY,
                 "schedulingGroup": ANY, "workloadRef": ANY},
        "status": {"phase": ANY, "reason": ANY, "message": ANY, "conditions": ANY, "podIP": ANY,
                   "hostIP": ANY, "startTime": ANY, "nominatedNodeName": ANY, "containerStatuses": ANY,
                   "initContainerStatuses": ANY},
    },
    # what verify reads: every container field (commands, env, resources, ports, mounts) and volumes,
    # the status whole; only managedFields and the rarely read metadata go (about 45% of a real pod)
    "pods:spec": {"metadata": _META, "spec": ANY, "status": ANY},
    "nodes": {
        "metadata": {"name": ANY, "uid": ANY, "resourceVersion": ANY, "labels": ANY},
        "spec": {"unschedulable": ANY, "taints": ANY},
        "status": {"conditions": ANY},
    },
}


def _apply(value: Any, schema: Any) -> Any:
    if schema is ANY:
        return value
    if isinstance(schema, list):
        if not isinstance(value, list):
            return value
        return [_apply(v, schema[0]) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: _apply(v, schema[k]) for k, v in value.items() if k in schema}


def slim(kind: str, obj: dict) -> dict:
    """The slim record of one object (the object itself for a kind without a schema)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return obj
    out = _apply(obj, schema)
    for key in ("apiVersion", "kind"):
        if key in obj:
            out[key] = obj[key]
    return out


_DECODERS: dict[str, Any] = {}


def decoder(kind: str) -> Any:
    """A msgspec decoder of a ``<Kind>List`` keeping only the schema's fields, or None (no msgspec,
    or no schema for the kind): the caller then uses ``json.loads`` + ``slim``."""
    if kind not in SCHEMAS:
        return None
    if kind in _DECODERS:
        return _DECODERS[kind]
    try:
        import msgspec
    except ImportError:
        _DECODERS[kind] = None
        return None
    from typing import TypedDict

    counter = [0]

    def typed(schema: Any) -> Any:
        if schema is ANY:
            return Any
        if isinstance(schema, list):
            return list[typed(schema[0])]  # type: ignore[misc]
        counter[0] += 1
        return TypedDict(f"Slim{counter[0]}", {k: typed(v) for k, v in schema.items()},  # type: ignore[misc]
                         total=False)

    item = typed({**SCHEMAS[kind], "apiVersion": ANY, "kind": ANY})
    listing = TypedDict("SlimList", {"apiVersion": Any, "kind": Any, "metadata": Any,  # type: ignore[misc]
                                     "items": list[item]}, total=False)
    dec = msgspec.json.Decoder(listing)
    _DECODERS[kind] = dec
    return dec


# Below this body size json.loads is as quick and msgspec's import (about 10 ms) is not worth it.
MSGSPEC_MIN_BYTES = 256 * 1024


def decode_list(kind: str, data: bytes, *, use_msgspec: bool | None = None) -> dict:
    """A LIST response body as ``{"metadata": ..., "items": [slim records]}``.

    ``use_msgspec`` None: msgspec for bodies of MSGSPEC_MIN_BYTES and more (when installed)."""
    if use_msgspec is None:
        use_msgspec = len(data) >= MSGSPEC_MIN_BYTES
    dec = decoder(kind) if use_msgspec else None
    if dec is not None:
        try:
            doc = dec.decode(data)
        except Exception:  # noqa: BLE001 — a shape msgspec refuses: the plain path decides
            doc = None
        if isinstance(doc, dict):
            doc.setdefault("items", [])
            doc["items"] = [i if i is not None else {} for i in doc["items"] or []]
            return doc
    import json

    doc = json.loads(data)
    if isinstance(doc, dict):
        doc["items"] = [slim(kind, i) for i in doc.get("items") or []]
    return doc


@contextmanager
def building_records() -> Iterator[None]:
    """Pause the cyclic garbage collector while many records are built.

    Why: decoding 4,096 pods makes some 100,000 dicts and lists that are all still alive, and the
    collector, triggered by allocation counts, scans that whole growing heap again and again for
    cycles these records never form (about 40 ms of a 0.4 s ``list -A``). At the end what was built
    is frozen out of the collector's view (``gc.freeze``) and the collector runs again as before.
    Reference counting still frees every record when it is dropped (a watch's relist replaces its
    store); only a reference cycle alive at that moment and dropped later would wait for an unfreeze.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Objects made while the collector was off all sit in its youngest generation: without this
        # the next collection would scan every one of them (and then again one generation up).
        gc.freeze()
        if was_enabled:
            gc.enable()
