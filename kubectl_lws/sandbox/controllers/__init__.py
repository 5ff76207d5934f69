"""Controller emulations for the sandbox: ``install(sandbox)`` wires GC, the DisaggregatedSet controller, the
LWS controller, the StatefulSet controller, the LWS pod controller, the claim binder, the scheduler, the kubelet
and the serviceaccount controller (default SA and kube-root-ca.crt per namespace) onto ``sandbox.loop`` and
registers the faults (crash, fail-readiness, node-not-ready, pause-controller, slow-controller, set-env,
image-pull, oom-kill, deny-pods, ds-status, expire-events). Add-ons (``Sandbox.install_addons``: kueue, volcano) bring their
webhooks and controllers through ``Manager.install_addon``."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

from .base import Manager
from .disaggregatedset import STATUS_MODES, DisaggregatedSetController
from .gc import GarbageCollector
from .kubelet import Kubelet, find_pod
from .lws import LwsController
from .lwspod import LwsPodController
from .scheduler import Scheduler
from .serviceaccount import ServiceAccountController
from .statefulset import StatefulSetController
from .storage import StorageController


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() not in ("false", "0", "no", "off", "")
    return bool(v)


def _register_faults(sandbox: Any, mgr: Manager, kubelet: Kubelet) -> None:
    store = sandbox.store

    def crash(pod: str, container: str | None = None, once: Any = True, loop: Any = None, exit_code: int = 1,
              namespace: str | None = None) -> dict:
        """Crash a container once (restartCount+1) or into a CrashLoopBackOff loop (``once=False``/``loop``)."""
        ns, name = find_pod(store, pod, namespace)
        looping = _truthy(loop) if loop is not None else not _truthy(once)
        if str(once).lower() == "loop":
            looping = True
        kubelet.crash(ns, name, container, int(exit_code), looping)
        return {"pod": f"{ns}/{name}", "loop": looping}

    def stop_crash(pod: str, container: str | None = None, namespace: str | None = None) -> dict:
        ns, name = find_pod(store, pod, namespace)
        kubelet.stop_crash_loop(ns, name, container)
        return {"pod": f"{ns}/{name}"}

    def fail_readiness(pod: str, on: Any = True, namespace: str | None = None) -> dict:
        ns, name = find_pod(store, pod, namespace)
        if _truthy(on) and store.get("pods", ns, name) is None:  # a typo must not "succeed"
            raise KeyError(f"pod {ns}/{name} not found")
        kubelet.set_readiness_failure(ns, name, _truthy(on))
        return {"pod": f"{ns}/{name}", "on": _truthy(on)}

    def node_not_ready(node: str, on: Any = True) -> dict:
        kubelet.set_node_ready(node, not _truthy(on))
        return {"node": node, "notReady": _truthy(on)}

    def pause_controller(on: Any = True, controller: str = "lws") -> dict:
        known = [c.name for c in mgr.controllers]
        if controller not in known:
            raise ValueError(f"unknown controller {controller!r}; known: {', '.join(known)}")
        names = ["lws", "lwspod"] if controller == "lws" else [controller]
        for n in names:
            (mgr.paused.add if _truthy(on) else mgr.paused.discard)(n)
        mgr.wake()
        return {"paused": sorted(mgr.paused)}

    def slow_controller(factor: Any = 10) -> dict:
        mgr.slow_factor = max(1.0, float(factor))
        return {"factor": mgr.slow_factor}

    def set_env(pod: str, value: Any, var: str | None = None, name: str | None = None,
                container: str | None = None, namespace: str | None = None) -> dict:
        """Tamper a pod's env in the store (e.g. a wrong LWS_WORKER_INDEX) to exercise the plugin's checks.
        The variable is ``var`` (``name`` also works over HTTP, but clashes with ``Sandbox.fault(name, ...)``)."""
        name = var or name
        if not name:
            raise ValueError("set-env needs var=<ENV NAME>")
        ns, pname = find_pod(store, pod, namespace)
        obj = store.get("pods", ns, pname)
        if obj is None:
            raise KeyError(f"pod {ns}/{pname} not found")
        new = copy.deepcopy(obj)
        hit = False
        for c in new["spec"].get("containers") or []:
            if container in (None, c["name"]):
                env = c.setdefault("env", [])
                for e in env:
                    if e.get("name") == name:
                        e.pop("valueFrom", None)
                        e["value"] = str(value)
                        break
                else:
                    env.append({"name": name, "value": str(value)})
                hit = True
        if not hit:
            raise KeyError(f"container {container} not in pod {ns}/{pname}")
        store.update("pods", new)
        return {"pod": f"{ns}/{pname}", "env": {name: str(value)}}

    for fname, fn in (("crash", crash), ("stop-crash", stop_crash), ("fail-readiness", fail_readiness),
                      ("node-not-ready", node_not_ready), ("pause-controller", pause_controller),
                      ("slow-controller", slow_controller), ("set-env", set_env)):
        sandbox.register_fault(fname, fn)
    _register_event_faults(sandbox, store, kubelet)


def _register_event_faults(sandbox: Any, store: Any, kubelet: Kubelet) -> None:
    """Faults whose trace is in events (issue 12): unpullable images, OOM kills, denying webhooks."""

    def image_pull(image: str, on: Any = True) -> dict:
        """Pulls of ``image`` fail: new pods with it stay Pending in ImagePullBackOff (off: they start)."""
        restarted = kubelet.set_bad_image(image, _truthy(on))
        return {"image": image, "on": _truthy(on), "restarted": restarted}

    def oom_kill(pod: str, container: str | None = None, loop: Any = False, namespace: str | None = None) -> dict:
        """The container is OOMKilled (exit code 137) once, or in a CrashLoopBackOff loop."""
        ns, name = find_pod(store, pod, namespace)
        obj = store.get("pods", ns, name)
        if obj is None:
            raise KeyError(f"pod {ns}/{name} not found")
        cname = container or ((obj.get("spec") or {}).get("containers") or [{}])[0].get("name")
        kubelet.crash_reasons[(ns, name, cname)] = "OOMKilled"
        kubelet.crash(ns, name, cname, 137, _truthy(loop))
        return {"pod": f"{ns}/{name}", "container": cname, "loop": _truthy(loop)}

    def deny_pods(namespace: str | None = None, on: Any = True, prefix: str | None = None,
                  webhook: str = "policy.example.com",
                  message: str = "pods must not request more than 4 GPUs in this namespace") -> dict:
        """An admission webhook denies pod creation in ``namespace`` (names starting with ``prefix``)."""
        from ..admission import denials

        rules = denials(sandbox)
        rules[:] = [r for r in rules if (r["namespace"], r["prefix"]) != (namespace, prefix)]
        if _truthy(on):
            rules.append({"namespace": namespace, "prefix": prefix, "webhook": webhook, "message": message})
        return {"rules": list(rules)}

    def expire_events(namespace: str | None = None, older_than: Any = 0) -> dict:
        """Events last seen more than ``older_than`` seconds ago are gone, as kube-apiserver's --event-ttl
        (1 h) makes them; 0 expires every event (of ``namespace``, or of every namespace)."""
        from datetime import datetime, timedelta, timezone

        from kubectl_lws.model.events import normalize

        cutoff = datetime.now(timezone.utc) - timedelta(seconds=float(older_than))
        gone = 0
        for ev in store.list("events", namespace):
            seen = normalize(ev)
            when = (seen.last or seen.first) if seen is not None else None
            if when is None or when <= cutoff:
                store.remove("events", ev["metadata"].get("namespace"), ev["metadata"]["name"])
                gone += 1
        return {"expired": gone}

    for fname, fn in (("image-pull", image_pull), ("oom-kill", oom_kill), ("deny-pods", deny_pods),
                      ("expire-events", expire_events)):
        sandbox.register_fault(fname, fn)


# Where each add-on's release manifests put its controller (what `doctor` reads for its version).
_ADDON_DEPLOYMENTS = {"kueue": ("kueue-system", "kueue-controller-manager", "registry.k8s.io/kueue/kueue:v0.19.2"),
                      "volcano": ("volcano-system", "volcano-scheduler", "docker.io/volcanosh/vc-scheduler:v1.12.1")}


def _addon_deployment(store: Any, ns: str, name: str, image: str) -> None:
    if store.get("namespaces", None, ns) is None:
        store.create("namespaces", {"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    if store.get("deployments.apps", ns, name) is None:
        labels = {"app.kubernetes.io/name": name}
        store.create("deployments.apps", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "manager", "image": image}]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}})


def _install_addon(sandbox: Any, mgr: Manager, name: str, config: dict) -> None:
    """The webhooks and controllers of one add-on, fed what the store already holds."""
    added: list = []
    if name == "kueue":
        from .kueue_pods import KueuePodsController
        from .kueue_queues import KueueQueuesController
        from .kueue_scheduler import KueueScheduler
        from .kueue_webhook import plugin
        from .kueue_workload import KueueLwsController

        sandbox.admission_plugins.append(plugin(sandbox))
        added = [KueueLwsController(mgr), KueueScheduler(mgr), KueuePodsController(mgr), KueueQueuesController(mgr)]
    elif name == "volcano":
        from .volcano import VolcanoController, plugin as volcano_plugin

        sandbox.admission_plugins.append(volcano_plugin(sandbox))
        added = [VolcanoController(mgr)]
    if name in _ADDON_DEPLOYMENTS:
        _addon_deployment(mgr.store, *_ADDON_DEPLOYMENTS[name])
    at = next((i for i, c in enumerate(mgr.controllers) if c.name == "scheduler"), len(mgr.controllers))
    mgr.controllers[at:at] = added
    for resource in ("nodes", "namespaces", "pods", "leaderworkersets.leaderworkerset.x-k8s.io"):
        for obj in mgr.store.list(resource):
            for c in added:
                c.on_event("ADDED", resource, obj, None)
    mgr.wake()


def _ds_status(sandbox: Any, ds: DisaggregatedSetController, mode: str) -> dict:
    """Fault ds-status: ``empty`` as LWS v0.10.0 (no ``.status`` ever written), or ``written`` as LWS main
    (observedGeneration, roleStatuses, Available/Progressing). A status written before stays when switching
    back to empty, as after a downgrade."""
    if mode not in STATUS_MODES:
        raise ValueError(f"mode must be one of {', '.join(STATUS_MODES)}, got {mode!r}")
    sandbox.ds_status = mode
    for obj in ds.store.list("disaggregatedsets.disaggregatedset.x-k8s.io"):
        ds.enqueue((obj["metadata"]["namespace"], obj["metadata"]["name"]))
    return {"dsStatus": mode}


def install(sandbox: Any) -> Manager:
    """Start every controller on ``sandbox.loop``; returns the manager (``sandbox.controllers`` too).

    Safe to call from any thread: the start itself is scheduled on the loop when called off it.
    """
    mgr = Manager(sandbox)
    kubelet = Kubelet(mgr)
    lws = LwsController(mgr)
    ds = DisaggregatedSetController(mgr)
    mgr.controllers = [GarbageCollector(mgr), ds, lws, StatefulSetController(mgr), LwsPodController(mgr),
                       StorageController(mgr), Scheduler(mgr), kubelet, ServiceAccountController(mgr)]
    mgr.kubelet = kubelet  # type: ignore[attr-defined]
    mgr.disaggregatedset = ds  # type: ignore[attr-defined]
    mgr.install_addon = lambda name, config: _install_addon(sandbox, mgr, name, config)  # type: ignore[attr-defined]
    if not hasattr(sandbox, "ds_status"):
        sandbox.ds_status = "empty"
    if hasattr(sandbox, "register_fault"):
        _register_faults(sandbox, mgr, kubelet)
        sandbox.register_fault("ds-status", lambda mode="written": _ds_status(sandbox, ds, mode))
    if hasattr(sandbox, "settle_checks"):
        sandbox.settle_checks.append(lambda: mgr.idle() and lws.settled() and ds.settled())
    if hasattr(sandbox, "on_stop"):
        sandbox.on_stop(mgr.stop)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is sandbox.loop:
        mgr.start()
    else:
        done = __import__("concurrent.futures").futures.Future()

        def _start() -> None:
            try:
                mgr.start()
                done.set_result(None)
            except Exception as e:  # noqa: BLE001
                done.set_exception(e)
        sandbox.loop.call_soon_threadsafe(_start)
        done.result(timeout=30)
    sandbox.controllers = mgr
    return mgr


__all__ = ["install", "Manager"]
