"""core/v1 Event objects shaped like the golden ones (events.k8s.io style: eventTime set, source {})."""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import Any


_seq = itertools.count()


def _suffix() -> str:
    """kube names events <object>.<hex timestamp>; a counter keeps them unique (no urandom per event)."""
    return f"{time.time_ns() + next(_seq):x}"


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def involved(obj: dict) -> dict:
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
           "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
           "resourceVersion": meta.get("resourceVersion")}
    return {k: v for k, v in ref.items() if v is not None}


def emit(store: Any, obj: dict, reason: str, message: str, *, type_: str = "Normal", action: str = "",
         component: str = "leaderworkerset", related: dict | None = None, legacy: bool = False,
         aggregate: bool = False, field_path: str | None = None, host: str | None = None) -> dict | None:
    """Record one Event about ``obj``; failures (namespace gone, ...) are ignored like a real recorder.

    ``legacy`` writes the old core/v1 recorder shape that kube-controller-manager's StatefulSet controller
    still uses (source.component, first/lastTimestamp, count; no eventTime), as the golden traces show."""
    meta = obj["metadata"]
    if aggregate:
        again = _repeat(store, obj, reason, message, type_)
        if again is not None:
            return again
    ev: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{_suffix()}", "namespace": meta.get("namespace") or "default"},
        "involvedObject": involved(obj), "reason": reason, "message": message, "source": {},
        "firstTimestamp": None, "lastTimestamp": None, "type": type_, "eventTime": _micro_now(),
        "action": action, "reportingComponent": component, "reportingInstance": f"{component}-sandbox",
    }
    if legacy:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        ev.update(source={"component": component}, firstTimestamp=now, lastTimestamp=now, count=1, eventTime=None,
                  reportingInstance="")
        ev.pop("action")
    if related is not None:
        ev["related"] = involved(related)
    if field_path:
        ev["involvedObject"]["fieldPath"] = field_path
    if host and legacy:
        ev["source"]["host"] = host
        ev["reportingInstance"] = host
    try:
        created = store.create("events", ev)
    except Exception:  # noqa: BLE001 - an event must never break a controller
        return None
    if aggregate:
        if len(_SEEN) > 50_000:
            _SEEN.clear()
        _SEEN[_key(store, obj, reason, message, type_)] = (created["metadata"]["namespace"],
                                                           created["metadata"]["name"])
    return created


# the legacy recorder's aggregation: the same (object, reason, message, type) bumps count and lastTimestamp
_SEEN: dict[tuple, tuple[str, str]] = {}


def _key(store: Any, obj: dict, reason: str, message: str, type_: str) -> tuple:
    return (id(store), obj["metadata"].get("uid"), reason, message, type_)


def _repeat(store: Any, obj: dict, reason: str, message: str, type_: str) -> dict | None:
    where = _SEEN.get(_key(store, obj, reason, message, type_))
    if where is None:
        return None
    old = store.get("events", where[0], where[1])
    if old is None:
        _SEEN.pop(_key(store, obj, reason, message, type_), None)
        return None
    new = dict(old)
    now = datetime.now(timezone.utc)
    if new.get("series") is not None or (new.get("eventTime") and not new.get("lastTimestamp")):
        series = dict(new.get("series") or {"count": 1})
        series["count"] = int(series.get("count", 1)) + 1
        series["lastObservedTime"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        new["series"] = series
    else:
        new["count"] = int(new.get("count") or 1) + 1
        new["lastTimestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        return store.update("events", new)
    except Exception:  # noqa: BLE001
        return None
