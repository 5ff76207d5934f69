"""Work-queue plumbing shared by the sandbox controllers.

Store callbacks are synchronous and fire inside store calls, so they only mark keys dirty; one asyncio task
drains the queues. That keeps every reconcile free of re-entrancy and lets faults pause or slow it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

log = logging.getLogger("kubectl_lws.sandbox.controllers")

Key = tuple  # (namespace, name) or similar


def owner_uids(obj: dict) -> list[str]:
    return [r["uid"] for r in (obj["metadata"].get("ownerReferences") or []) if r.get("uid")]


def controller_ref(obj: dict) -> dict | None:
    for r in obj["metadata"].get("ownerReferences") or []:
        if r.get("controller"):
            return r
    return None


def owner_ref(obj: dict, *, block: bool = True) -> dict:
    """A controller ownerReference to ``obj``."""
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


class Index:
    """uid -> (resource, ns, name) and owner uid -> dependents, kept current from the store feed; lets GC and
    the StatefulSet controller find children without scanning 4,000 pods."""

    def __init__(self) -> None:
        self.by_uid: dict[str, tuple[str, str, str]] = {}
        self.children: dict[str, set[tuple[str, str, str]]] = {}

    def feed(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        ref = (resource, meta.get("namespace") or "", meta["name"])
        uid = meta.get("uid")
        old_owners = set(owner_uids(old)) if old is not None else set()
        new_owners = set(owner_uids(obj)) if type_ != "DELETED" else set()
        for o in old_owners - new_owners:
            s = self.children.get(o)
            if s is not None:
                s.discard(ref)
                if not s:
                    del self.children[o]
        for o in new_owners:
            self.children.setdefault(o, set()).add(ref)
        if type_ == "DELETED":
            if uid and self.by_uid.get(uid) == ref:
                del self.by_uid[uid]
        elif uid:
            self.by_uid[uid] = ref

    def dependents(self, uid: str) -> list[tuple[str, str, str]]:
        return sorted(self.children.get(uid, ()))


class Controller:
    """One reconcile function over a set of dirty keys."""
    name = "controller"

    def __init__(self, mgr: "Manager"):
        self.mgr = mgr
        self.store = mgr.store
        self.dirty: set = set()

    def enqueue(self, key: Any) -> None:
        self.dirty.add(key)
        self.mgr.wake()

    def on_event(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:  # pragma: no cover
        pass

    def reconcile(self, key: Any) -> None:  # pragma: no cover
        pass


class Manager:
    """Owns the controllers, the index and the drain task on the sandbox loop."""

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.speed = float(getattr(sandbox, "speed", 1.0) or 1.0)
        self.index = Index()
        self.controllers: list[Controller] = []
        self.paused: set[str] = set()      # controller names paused by the pause-controller fault
        self.slow_factor = 1.0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._untracked: set[asyncio.TimerHandle] = set()
        self.errors: list[str] = []
        self.busy = False

    def delay(self, real_seconds: float) -> float:
        """A real-cluster delay shrunk by the sandbox speed factor."""
        return real_seconds / self.speed

    def later(self, seconds: float, fn: Callable[[], None], track: bool = True) -> None:
        """Run ``fn`` on the loop after ``seconds`` (already scaled). Tracked timers keep the sandbox
        unsettled; perpetual ones (crash loops) pass ``track=False``."""
        loop = self.sandbox.loop
        handle: asyncio.TimerHandle | None = None

        def run() -> None:
            self._timers.discard(handle)  # type: ignore[arg-type]
            self._untracked.discard(handle)  # type: ignore[arg-type]
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                log.exception("timer failed")
                self.errors.append(repr(e))
            self.wake()
        handle = loop.call_later(max(0.0, seconds), run)
        (self._timers if track else self._untracked).add(handle)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _feed(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:
        self.index.feed(type_, resource, obj, old)
        for c in self.controllers:
            try:
                c.on_event(type_, resource, obj, old)
            except Exception as e:  # noqa: BLE001
                log.exception("%s.on_event failed", c.name)
                self.errors.append(repr(e))

    def start(self) -> None:
        """Subscribe and start the drain task; must run on the sandbox loop."""
        for resource in ("nodes", "pods", "statefulsets.apps", "services", "controllerrevisions.apps",
                         "leaderworkersets.leaderworkerset.x-k8s.io", "namespaces",
                         "disaggregatedsets.disaggregatedset.x-k8s.io",
                         "disaggregatedsetrolescalers.disaggregatedset.x-k8s.io"):
            for obj in self.store.list(resource):
                self._feed("ADDED", resource, obj, None)
        self._unsub = self.store.subscribe(self._feed)
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if getattr(self, "_unsub", None):
            self._unsub()
        for h in list(self._timers) + list(self._untracked):
            h.cancel()
        self._timers.clear()
        self._untracked.clear()
        if self._task is not None:
            self._task.cancel()

    def idle(self) -> bool:
        """No dirty keys in any unpaused controller and no pending timers."""
        if self.busy or self._timers:
            return False
        return all(not c.dirty for c in self.controllers if c.name not in self.paused)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            for _ in range(10_000):
                progressed = False
                for c in self.controllers:
                    if c.name in self.paused or not c.dirty:
                        continue
                    keys = sorted(c.dirty, key=repr)
                    c.dirty.clear()
                    self.busy = True
                    for key in keys:
                        try:
                            c.reconcile(key)
                        except Exception as e:  # noqa: BLE001 - a real controller requeues; so do we
                            log.debug("%s reconcile %s failed: %r", c.name, key, e)
                            self.errors.append(f"{c.name} {key}: {e!r}")
                            del self.errors[:-50]
                            self.later(self.delay(1.0), lambda c=c, key=key: c.enqueue(key))
                    self.busy = False
                    progressed = True
                    if self.slow_factor > 1:
                        await asyncio.sleep(0.01 * self.slow_factor)
                    else:
                        await asyncio.sleep(0)
                if not progressed:
                    break
