"""Kubelet status lifecycle: Pending -> Running -> Ready, container restarts and CrashLoopBackOff, readiness
and node faults, and graceful removal of terminating pods. Delays are real-cluster-like and divided by the
sandbox speed."""
from __future__ import annotations

import copy
import ipaddress
from typing import Any, Callable

from ..store import now_iso
from . import exits
from .base import Controller

START_DELAY = 0.5          # bound -> Running (image pull + start), real seconds
TERMINATE_DELAY = 0.2      # deletionTimestamp -> removed (kwok: instant; a real pod waits up to its grace)
CRASH_RUN = 2.0            # a crash-looping container runs this long before it dies again
BACKOFF_BASE, BACKOFF_MAX = 10.0, 300.0
# Pod annotation: the containers run but stay unready this many (real) seconds after the start, as a server
# loading model weights behind a readiness probe; the wait does not hold the sandbox from settling.
READY_AFTER_ANNOTATION = "sandbox.kubectl-lws.dev/ready-after"


SIDECAR_START = 0.2        # native sidecars started -> main containers start (their startup, real seconds)


def is_sidecar(container: dict) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always`` (Kubernetes 1.29+)."""
    return container.get("restartPolicy") == "Always"


def _qos(pod: dict) -> str:
    cs = (pod.get("spec") or {}).get("containers") or []
    if not any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") for c in cs):
        return "BestEffort"
    for c in cs:
        r = c.get("resources") or {}
        lim, req = r.get("limits") or {}, r.get("requests") or {}
        if not lim or any(req.get(k, lim.get(k)) != lim.get(k) for k in ("cpu", "memory")) \
                or not all(k in lim for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def _ready_after(pod: dict) -> float:
    try:
        return float((pod["metadata"].get("annotations") or {}).get(READY_AFTER_ANNOTATION) or 0)
    except ValueError:
        return 0.0


class Kubelet(Controller):
    """Keys: (ns, name) of pods whose node-side state should be (re)computed."""
    name = "kubelet"

    def __init__(self, mgr):
        super().__init__(mgr)
        self.starting: set[str] = set()                  # pod uids with a start timer armed
        self.terminating: set[str] = set()               # pod uids with a removal timer armed
        self.readiness_fail: set[tuple[str, str]] = set()
        self.crash_loops: dict[tuple[str, str, str], int] = {}   # (ns, pod, container) -> exit code
        self.looping: set[tuple[str, str, str, str]] = set()     # (uid, container) cycles armed
        self._next_ip = 2
        self._own_ips: dict[str, str] = {}
        self.bad_images: set[str] = set()                        # fault image-pull: pulls of these fail
        self.crash_reasons: dict[tuple[str, str, str], str] = {}  # fault oom-kill: (ns, pod, container) -> reason
        self.config_waiting: dict[tuple[str, str], str] = {}  # (ns, pod) -> uid, waiting for a ConfigMap/Secret
        self.warming: set[str] = set()                           # pod uids still in their ready-after wait

    # ----------------------------------------------------------------------------------------- feed
    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == "pods":
            if type_ == "DELETED":
                self._detach(obj)
                return
            if (obj.get("spec") or {}).get("nodeName"):
                self.enqueue((meta.get("namespace"), meta["name"]))
        elif resource in ("configmaps", "secrets") and type_ != "DELETED":
            self._retry_config(meta.get("namespace") or "")
        elif resource == "nodes" and type_ == "MODIFIED":
            if self._node_ready(obj) != self._node_ready(old or {}):
                for p in self.store.list("pods", field_selector=f"spec.nodeName={meta['name']}"):
                    self.enqueue((p["metadata"].get("namespace"), p["metadata"]["name"]))

    @staticmethod
    def _node_ready(node: dict) -> bool:
        for c in (node.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                return c.get("status") == "True"
        return True

    # ---------------------------------------------------------------------------------------- network
    def _attach(self, pod: dict) -> str:
        net = getattr(self.mgr.sandbox, "network", None)
        if hasattr(net, "attach"):  # the runtime's Network; before it is installed this is a mode string
            return net.attach(pod)
        uid = pod["metadata"]["uid"]
        if uid not in self._own_ips:
            n = self._next_ip
            self._next_ip += 1
            self._own_ips[uid] = str(ipaddress.IPv4Address("10.0.0.0") + n)
        return self._own_ips[uid]

    def _detach(self, pod: dict) -> None:
        uid = pod["metadata"].get("uid")
        self.starting.discard(uid)
        self.warming.discard(uid)
        self.terminating.discard(uid)
        if self._own_ips.pop(uid, None) is not None:
            return
        net = getattr(self.mgr.sandbox, "network", None)
        if hasattr(net, "detach"):  # idempotent per uid on the runtime side
            try:
                net.detach(pod)
            except Exception:  # noqa: BLE001
                pass

    # ---------------------------------------------------------------------------------------- reconcile
    def reconcile(self, key):
        ns, name = key
        pod = self.store.get("pods", ns, name)
        if pod is None:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            if not meta.get("finalizers") and uid not in self.terminating:
                self.terminating.add(uid)
                stop = exits.stop_seconds(pod, TERMINATE_DELAY)
                self.mgr.later(self.mgr.delay(stop), lambda: self._remove(ns, name, uid))
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if uid in self.starting:
            return
        if phase == "Pending" and not (pod.get("status") or {}).get("containerStatuses"):
            if uid not in self.starting:
                self.starting.add(uid)
                self.mgr.later(self.mgr.delay(START_DELAY), lambda: self._start(ns, name, uid))
            return
        if phase == "Running":
            self._refresh_ready(pod)
            spec = pod.get("spec") or {}
            for c in list(spec.get("containers") or []) + [c for c in spec.get("initContainers") or []
                                                            if is_sidecar(c)]:
                if (ns, name, c["name"]) in self.crash_loops and (uid, c["name"]) not in self.looping:
                    self.looping.add((uid, c["name"]))
                    self.mgr.later(self.mgr.delay(CRASH_RUN), lambda c=c["name"]: self._crash(ns, name, uid, c),
                                   track=False)

    def _remove(self, ns: str, name: str, uid: str) -> None:
        self.terminating.discard(uid)
        pod = self.store.get("pods", ns, name)
        if pod is not None and pod["metadata"]["uid"] == uid and not pod["metadata"].get("finalizers"):
            self.store.remove("pods", ns, name)

    def _live(self, ns: str, name: str, uid: str) -> dict | None:
        pod = self.store.get("pods", ns, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    def _node(self, pod: dict) -> dict | None:
        return self.store.get("nodes", None, (pod.get("spec") or {}).get("nodeName") or "")

    def _start(self, ns: str, name: str, uid: str) -> None:
        self.starting.discard(uid)
        pod = self._live(ns, name, uid)
        if pod is None or not (pod.get("spec") or {}).get("nodeName"):
            return
        node = self._node(pod)
        if node is not None and not self._node_ready(node):
            return  # a NotReady node's kubelet starts nothing; the node's recovery re-enqueues the pod
        if self._pull_fails(pod) or self._config_fails(pod):
            return
        now = now_iso()
        new = dict(pod)
        st = new["status"] = dict(pod.get("status") or {})
        host_ip = "127.0.0.1"
        for a in ((node or {}).get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                host_ip = a["address"]
        pod_ip = self._attach(pod)
        st["hostIP"], st["hostIPs"] = host_ip, [{"ip": host_ip}]
        st["podIP"], st["podIPs"] = pod_ip, [{"ip": pod_ip}]
        st["startTime"] = now
        st["qosClass"] = _qos(pod)
        spec = pod.get("spec") or {}
        if spec.get("initContainers"):
            # regular init containers run to completion in order; a native sidecar starts and keeps running
            st["initContainerStatuses"] = [self._sidecar_status(c, now) if is_sidecar(c) else {
                "name": c["name"], "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                                            "finishedAt": now}},
                "lastState": {}, "ready": True, "restartCount": 0, "image": c.get("image", ""), "imageID": "",
                "started": False} for c in spec["initContainers"]]
        if any(is_sidecar(c) for c in spec.get("initContainers") or []):
            # the sidecars run before the main containers start: the pod is seen initialising first
            st["phase"] = "Pending"
            st["containerStatuses"] = [{
                "name": c["name"], "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {},
                "ready": False, "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": False}
                for c in spec.get("containers") or []]
            self._set_conditions(new, now, initialized=False)
            self.store.update("pods", new, subresource="status")
            self.starting.add(uid)
            self.mgr.later(self.mgr.delay(SIDECAR_START), lambda: self._start_main(ns, name, uid))
            return
        self._run_main(pod, new, uid, now)

    def _run_main(self, pod: dict, new: dict, uid: str, now: str) -> None:
        """The main containers start: the pod runs (``new`` is the copy of ``pod`` to write); a container
        that ends on its own is armed."""
        containers = (pod.get("spec") or {}).get("containers") or []
        st = new.setdefault("status", {})
        st["phase"] = "Running"
        st["containerStatuses"] = [{
            "name": c["name"], "state": {"running": {"startedAt": now}}, "lastState": {}, "ready": True,
            "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": True}
            for c in containers]
        self._warm_up(pod, uid)
        self._set_conditions(new, now)
        self.store.update("pods", new, subresource="status")
        for c in containers:
            self._arm_exit(new, c["name"], 0)

    @staticmethod
    def _sidecar_status(c: dict, now: str) -> dict:
        """A started native sidecar: running, ``started: true``, ready (per its probe: the pod's readiness)."""
        return {"name": c["name"], "state": {"running": {"startedAt": now}}, "lastState": {}, "ready": True,
                "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": True}

    def _start_main(self, ns: str, name: str, uid: str) -> None:
        """The sidecars have started: the main containers start, the pod runs."""
        self.starting.discard(uid)
        pod = self._live(ns, name, uid)
        if pod is None:
            return
        self._run_main(pod, copy.deepcopy(pod), uid, now_iso())

    def _warm_up(self, pod: dict, uid: str) -> None:
        """The main containers started: with ready-after they stay unready that long (an untracked wait)."""
        seconds = _ready_after(pod)
        if seconds <= 0:
            return
        ns, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
        self.warming.add(uid)
        self.mgr.later(self.mgr.delay(seconds), lambda: self._warmed(ns, name, uid), track=False)

    def _warmed(self, ns: str, name: str, uid: str) -> None:
        self.warming.discard(uid)
        if self._live(ns, name, uid) is not None:
            self.enqueue((ns, name))

    def _pod_should_be_ready(self, pod: dict) -> bool:
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        if key in self.readiness_fail:
            return False
        node = self._node(pod)
        if node is not None and not self._node_ready(node):
            return False
        st = pod.get("status") or {}
        return bool(st.get("containerStatuses")) and all(cs.get("ready") for cs in self._running_statuses(pod))

    @staticmethod
    def _running_statuses(pod: dict) -> list[dict]:
        """The statuses that count for readiness: the main containers and the native sidecars."""
        st = pod.get("status") or {}
        sidecars = {c["name"] for c in (pod.get("spec") or {}).get("initContainers") or [] if is_sidecar(c)}
        return list(st.get("containerStatuses") or []) + [cs for cs in st.get("initContainerStatuses") or []
                                                          if cs.get("name") in sidecars]

    def _set_conditions(self, pod: dict, now: str, initialized: bool = True) -> None:
        st = pod["status"]
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        warming = pod["metadata"].get("uid") in self.warming
        for cs in self._running_statuses(pod):
            if "running" in (cs.get("state") or {}):
                cs["ready"] = key not in self.readiness_fail and not warming
        ready = self._pod_should_be_ready(pod) and initialized
        old = {c.get("type"): c for c in st.get("conditions") or []}
        want = {"Initialized": initialized, "Ready": ready, "ContainersReady": ready, "PodScheduled": True}
        conds = []
        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
            s = "True" if want[t] else "False"
            prev = old.get(t)
            if prev is not None and prev.get("status") == s:
                conds.append(prev)
                continue
            c = {"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": now}
            if t == "Initialized" and not want[t]:
                c["reason"] = "ContainersNotInitialized"
                c["message"] = "containers with incomplete status: [" + " ".join(
                    cs["name"] for cs in st.get("initContainerStatuses") or [] if not cs.get("started")
                    and "terminated" not in (cs.get("state") or {})) + "]"
            if t in ("Ready", "ContainersReady") and not want[t]:
                c["reason"] = "ContainersNotReady"
                bad = [cs["name"] for cs in self._running_statuses(pod) if not cs.get("ready")]
                c["message"] = f"containers with unready status: [{' '.join(bad)}]" if bad else \
                    "the status of pod readiness gate is not \"True\""
            conds.append(c)
        st["conditions"] = conds

    def _refresh_ready(self, pod: dict) -> None:
        new = dict(pod)
        st = new["status"] = dict(pod.get("status") or {})
        st["containerStatuses"] = [dict(cs) for cs in st.get("containerStatuses") or []]
        if st.get("initContainerStatuses"):
            st["initContainerStatuses"] = [dict(cs) for cs in st["initContainerStatuses"]]
        self._set_conditions(new, now_iso())
        if new["status"] != pod.get("status"):
            self.store.update("pods", new, subresource="status")

    # ------------------------------------------------------------------------------------------ faults
    def crash(self, ns: str, name: str, container: str | None, exit_code: int, loop: bool) -> None:
        pod = self.store.get("pods", ns, name)
        if pod is None:
            raise KeyError(f"pod {ns}/{name} not found")
        cname = container or ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")
        if loop:
            self.crash_loops[(ns, name, cname)] = exit_code
        self._crash(ns, name, pod["metadata"]["uid"], cname, exit_code=exit_code, once=not loop)

    def _arm_exit(self, pod: dict, cname: str, number: int) -> None:
        """A container that ends on its own (annotation ``sandbox.kubectl-lws.dev/exit``): exit it ``after``
        seconds, if that instance still runs then."""
        plan = exits.exit_plan(pod, cname)
        if plan is None:
            return
        meta = pod["metadata"]
        ns, name, uid = meta.get("namespace"), meta["name"], meta["uid"]

        def fire() -> None:
            cur = self._live(ns, name, uid)
            cs = next((c for c in (cur or {}).get("status", {}).get("containerStatuses") or [] if c["name"] == cname), {})
            if cur is None or int(cs.get("restartCount", 0)) != number or "running" not in (cs.get("state") or {}):
                return
            self._crash(ns, name, uid, cname, exit_code=plan["exitCode"], once=True, reason=plan["reason"],
                        message=plan["message"])

        self.mgr.later(self.mgr.delay(plan["after"]), fire, track=False)

    def _paused(self, again: Callable[[], None]) -> bool:
        """A paused kubelet (fault pause-controller) changes no container either: a crash loop's next step
        waits until it is resumed."""
        if self.name not in self.mgr.paused:
            return False
        self.mgr.later(self.mgr.delay(CRASH_RUN), again, track=False)
        return True

    def _crash(self, ns: str, name: str, uid: str, cname: str, exit_code: int | None = None,
               once: bool = False, reason: str | None = None, message: str | None = None) -> None:
        if not once and self._paused(lambda: self._crash(ns, name, uid, cname, exit_code, once, reason, message)):
            return
        self.looping.discard((uid, cname))
        pod = self._live(ns, name, uid)
        looping = (ns, name, cname) in self.crash_loops
        if pod is None or (not once and not looping):
            return
        code = exit_code if exit_code is not None else self.crash_loops.get((ns, name, cname), 1)
        now = now_iso()
        new = copy.deepcopy(pod)
        for cs in self._running_statuses(new):
            if cs["name"] != cname:
                continue
            started = (cs.get("state") or {}).get("running", {}).get("startedAt", now)
            why = reason or self.crash_reasons.get((ns, name, cname)) or ("Completed" if code == 0 else "Error")
            term = {"exitCode": code, "reason": why, "startedAt": started, "finishedAt": now}
            said = message or exits.fallback_message(new, cname, int(cs.get("restartCount", 0)), term)
            if said:
                term["message"] = said
            cs["lastState"] = {"terminated": term}
            cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
            cs["ready"] = False
            if looping:
                self._event(new, "BackOff", f"Back-off restarting failed container {cname} in pod {name}_{ns}"
                            f"({uid})", "Warning", cname)
                backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, cs["restartCount"] - 2))
                cs["state"] = {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {int(backoff)}s restarting failed container={cname} pod={name}_{ns}"
                               f"({uid})"}}
                self.looping.add((uid, cname))  # covers the back-off wait too
                self.mgr.later(self.mgr.delay(backoff), lambda: self._restart(ns, name, uid, cname), track=False)
            else:
                cs["state"] = {"running": {"startedAt": now}}
                cs["ready"] = True
        self._set_conditions(new, now)
        self.store.update("pods", new, subresource="status")
        if not looping:
            for cs in new.get("status", {}).get("containerStatuses") or []:
                if cs["name"] == cname:
                    self._arm_exit(new, cname, int(cs.get("restartCount", 0)))

    def _restart(self, ns: str, name: str, uid: str, cname: str) -> None:
        if self._paused(lambda: self._restart(ns, name, uid, cname)):
            return
        self.looping.discard((uid, cname))
        pod = self._live(ns, name, uid)
        if pod is None:
            return
        now = now_iso()
        new = copy.deepcopy(pod)
        for cs in self._running_statuses(new):
            if cs["name"] == cname:
                cs["state"] = {"running": {"startedAt": now}}
                cs["ready"] = True
        self._set_conditions(new, now)
        self.store.update("pods", new, subresource="status")
        if (ns, name, cname) in self.crash_loops and (uid, cname) not in self.looping:
            self.looping.add((uid, cname))
            self.mgr.later(self.mgr.delay(CRASH_RUN), lambda: self._crash(ns, name, uid, cname), track=False)

    def stop_crash_loop(self, ns: str, name: str, container: str | None) -> None:
        for k in [k for k in self.crash_loops if k[0] == ns and k[1] == name and (container in (None, k[2]))]:
            del self.crash_loops[k]

    def set_readiness_failure(self, ns: str, name: str, on: bool) -> None:
        (self.readiness_fail.add if on else self.readiness_fail.discard)((ns, name))
        pod = self.store.get("pods", ns, name)
        if on and pod is not None:
            cname = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
            self._event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503",
                        "Warning", cname)
        self.enqueue((ns, name))

    # ------------------------------------------------------------------------------ events and pulls
    def _event(self, pod: dict, reason: str, message: str, type_: str, container: str | None) -> None:
        """A kubelet event: the legacy core/v1 recorder, source {component: kubelet, host: node}."""
        from . import events

        events.emit(self.store, pod, reason, message, type_=type_, component="kubelet", legacy=True,
                    aggregate=True, field_path=f"spec.containers{{{container}}}" if container else None,
                    host=(pod.get("spec") or {}).get("nodeName"))

    def _pull_fails(self, pod: dict) -> bool:
        """Fault image-pull: a container whose image is unpullable leaves the pod Pending in
        ``ImagePullBackOff`` with kubelet's events (Pulling, Failed, BackOff)."""
        spec = pod.get("spec") or {}
        bad = [c for c in spec.get("containers") or [] if c.get("image") in self.bad_images]
        if not bad:
            return False
        now = now_iso()
        new = copy.deepcopy(pod)
        st = new.setdefault("status", {})
        st["phase"] = "Pending"
        st["startTime"] = st.get("startTime") or now
        statuses = []
        for c in spec.get("containers") or []:
            image = c.get("image", "")
            if c in bad:
                err = (f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                       f"{image}: not found")
                self._event(pod, "Pulling", f'Pulling image "{image}"', "Normal", c["name"])
                self._event(pod, "Failed", f'Failed to pull image "{image}": {err}', "Warning", c["name"])
                self._event(pod, "Failed", "Error: ErrImagePull", "Warning", c["name"])
                self._event(pod, "BackOff", f'Back-off pulling image "{image}"', "Normal", c["name"])
                self._event(pod, "Failed", "Error: ImagePullBackOff", "Warning", c["name"])
                state = {"waiting": {"reason": "ImagePullBackOff",
                                     "message": f'Back-off pulling image "{image}": ErrImagePull: {err}'}}
            else:
                state = {"waiting": {"reason": "PodInitializing"}}
            statuses.append({"name": c["name"], "state": state, "lastState": {}, "ready": False, "restartCount": 0,
                             "image": image, "imageID": "", "started": False})
        st["containerStatuses"] = statuses
        st["conditions"] = [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
             "reason": "ContainersNotReady",
             "message": f"containers with unready status: [{' '.join(c['name'] for c in bad)}]"},
            {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
             "reason": "ContainersNotReady",
             "message": f"containers with unready status: [{' '.join(c['name'] for c in bad)}]"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}]
        self.store.update("pods", new, subresource="status")
        return True

    def _config_fails(self, pod: dict) -> bool:
        """A ConfigMap or Secret the pod needs is missing: the containers wait as a kubelet leaves them
        (``CreateContainerConfigError`` for env, ``ContainerCreating`` + ``FailedMount`` for volumes) until
        it appears (:meth:`_retry_config`)."""
        from ..podconfig import problems

        found = problems(pod, lambda resource, ns, name: self.store.get(resource, ns, name))
        if not found:
            return False
        meta = pod["metadata"]
        self.config_waiting[(meta.get("namespace"), meta["name"])] = meta["uid"]
        now = now_iso()
        new = copy.deepcopy(pod)
        st = new.setdefault("status", {})
        st["phase"] = "Pending"
        st["startTime"] = st.get("startTime") or now
        for volume, message in found.volumes:
            self._event(pod, "FailedMount", f'MountVolume.SetUp failed for volume "{volume}" : {message}',
                        "Warning", None)
        statuses = []
        for c in (pod.get("spec") or {}).get("containers") or []:
            message = found.containers.get(c["name"])
            if found.volumes:
                state = {"waiting": {"reason": "ContainerCreating"}}
            elif message:
                self._event(pod, "Failed", f"Error: {message}", "Warning", c["name"])
                state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
            else:
                state = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append({"name": c["name"], "state": state, "lastState": {}, "ready": False, "restartCount": 0,
                             "image": c.get("image", ""), "imageID": "", "started": False})
        st["containerStatuses"] = statuses
        unready = " ".join(c["name"] for c in (pod.get("spec") or {}).get("containers") or [])
        st["conditions"] = [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            *({"type": t, "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
               "reason": "ContainersNotReady", "message": f"containers with unready status: [{unready}]"}
              for t in ("Ready", "ContainersReady")),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}]
        self.store.update("pods", new, subresource="status")
        return True

    def _retry_config(self, namespace: str) -> None:
        """A ConfigMap or Secret appeared or changed: pods of that namespace waiting for one try again."""
        for (ns, name), uid in list(self.config_waiting.items()):
            if ns != namespace:
                continue
            del self.config_waiting[(ns, name)]
            pod = self._live(ns, name, uid)
            if pod is None:
                continue
            new = copy.deepcopy(pod)
            new["status"] = {"phase": "Pending", "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort")}
            self.store.update("pods", new, subresource="status")
            self.enqueue((ns, name))

    def set_bad_image(self, image: str, on: bool) -> list[str]:
        """Fault image-pull on/off; off restarts the pods that were stuck on it."""
        (self.bad_images.add if on else self.bad_images.discard)(image)
        stuck = []
        if not on:
            for p in self.store.list("pods"):
                st = p.get("status") or {}
                if st.get("phase") == "Pending" and any(
                        ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "ImagePullBackOff"
                        and cs.get("image") == image for cs in st.get("containerStatuses") or []):
                    new = copy.deepcopy(p)
                    new["status"] = {"phase": "Pending", "qosClass": st.get("qosClass", "BestEffort")}
                    self.store.update("pods", new, subresource="status")
                    stuck.append(f"{p['metadata']['namespace']}/{p['metadata']['name']}")
                    self.enqueue((p["metadata"]["namespace"], p["metadata"]["name"]))
        return stuck

    def set_node_ready(self, node_name: str, ready: bool) -> None:
        node = self.store.get("nodes", None, node_name)
        if node is None:
            raise KeyError(f"node {node_name} not found")
        new = copy.deepcopy(node)
        st = new.setdefault("status", {})
        conds = [c for c in st.get("conditions") or [] if c.get("type") != "Ready"]
        conds.append({"type": "Ready", "status": "True" if ready else "False",
                      "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                      "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
                      "lastHeartbeatTime": now_iso(), "lastTransitionTime": now_iso()})
        st["conditions"] = conds
        self.store.update("nodes", new, subresource="status")

    def pending_work(self) -> bool:
        return bool(self.starting or self.terminating)


def find_pod(store: Any, pod: str, namespace: str | None = None) -> tuple[str, str]:
    """Resolve ``ns/name`` or a bare name (searched in ``namespace`` or every namespace)."""
    if "/" in pod:
        ns, name = pod.split("/", 1)
        return ns, name
    if namespace:
        return namespace, pod
    for p in store.list("pods", field_selector=f"metadata.name={pod}"):
        return p["metadata"]["namespace"], pod
    raise KeyError(f"pod {pod} not found")
