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


class SeriesRecorder:
    """client-go ``tools/events`` for one controller: isomorphic events are merged into one Event and a series.

    Isomorphic means the same type, reason, action, controller, instance, ``regarding`` (which carries the
    object's resourceVersion: one Event per reason per object version) and ``related``. The first occurrence
    creates the Event, the second writes ``series {count: 2}``, later ones only count in memory; the final count
    is written once no occurrence came for ``finish_after`` seconds (client-go: 6 minutes, checked on a 6
    minute ticker; here divided by the sandbox speed). A key without a series is forgotten after that time too.
    Golden README F.7; the core/v1 view shows ``count`` unset and ``series`` set.
    """

    FINISH_AFTER = 360.0  # real seconds (client-go's finishTime)

    def __init__(self, mgr: Any, controller: str):
        self.mgr = mgr
        self.controller = controller
        self.finish_after = mgr.delay(self.FINISH_AFTER)
        self._cache: dict[tuple, dict] = {}

    def record(self, obj: dict, reason: str, message: str, *, action: str, type_: str = "Normal",
               related: dict | None = None) -> None:
        regarding = involved(obj)
        key = (type_, reason, action, self.controller, tuple(sorted(regarding.items())),
               tuple(sorted(involved(related).items())) if related is not None else None)
        entry = self._cache.get(key)
        if entry is None:
            created = emit(self.mgr.store, obj, reason, message, type_=type_, action=action,
                           component=self.controller, related=related)
            if created is None:
                return
            self._cache[key] = {"event": (created["metadata"]["namespace"], created["metadata"]["name"]),
                                "count": 1, "last": datetime.now(timezone.utc), "armed": False}
            self._arm(key)
            return
        entry["count"] += 1
        entry["last"] = datetime.now(timezone.utc)
        if entry["count"] == 2:
            self._write_series(entry)
        self._arm(key)

    def _arm(self, key: tuple) -> None:
        entry = self._cache.get(key)
        if entry is None or entry["armed"]:
            return
        entry["armed"] = True
        self.mgr.later(self.finish_after, lambda: self._finish(key), track=False)

    def _finish(self, key: tuple) -> None:
        entry = self._cache.get(key)
        if entry is None:
            return
        entry["armed"] = False
        idle = (datetime.now(timezone.utc) - entry["last"]).total_seconds()
        if idle + 1e-3 < self.finish_after:
            entry["armed"] = True
            self.mgr.later(self.finish_after - idle, lambda: self._finish(key), track=False)
            return
        if entry["count"] > 2:
            self._write_series(entry)
        del self._cache[key]

    def _write_series(self, entry: dict) -> None:
        old = self.mgr.store.get("events", *entry["event"])
        if old is None:
            return
        series = {"count": entry["count"], "lastObservedTime": entry["last"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        new: dict[str, Any] = {}
        for k, v in old.items():  # series sits after eventTime, as kube serializes a core/v1 Event
            if k != "series":
                new[k] = v
            if k == "eventTime":
                new["series"] = series
        try:
            self.mgr.store.update("events", new)
        except Exception:  # noqa: BLE001 - an event must never break a controller
            pass
