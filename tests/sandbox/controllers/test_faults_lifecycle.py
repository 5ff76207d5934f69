"""Kubelet lifecycle, faults, startup policy and garbage collection on the sandbox controllers."""
from __future__ import annotations

import copy
import time

import pytest

from kubectl_lws.sandbox import scenario
from kubectl_lws.sandbox import webhooks as wh
from kubectl_lws.sandbox.sandbox import Sandbox

NS = "faults"


def _lws(name: str, replicas: int = 2, size: int = 2, **spec_extra) -> dict:
    lwt = {"size": size, "workerTemplate": {"spec": {"containers": [
        {"name": "main", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "100m"}}}]}}}
    lwt.update(spec_extra.pop("lwt", {}))
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": NS, "annotations": spec_extra.pop("annotations", {})},
            "spec": {"replicas": replicas, "leaderWorkerTemplate": lwt, **spec_extra}}


@pytest.fixture(scope="module")
def sb():
    s = Sandbox(speed=50).start()
    try:
        s.load_scenario({"nodes": [{"name": f"n{i}", "labels": {"example.com/rack": f"r{i % 2}"},
                                    "capacity": {"cpu": "16", "nvidia.com/gpu": "8"}} for i in range(4)],
                         "namespaces": [NS]})
        yield s
    finally:
        s.stop()


def _create(sb, lws: dict) -> None:
    sb.call(lambda: sb.store.create(wh.LWS_RESOURCE, wh.admit(sb, "CREATE", wh.LWS_RESOURCE, lws, None)))
    sb.wait_settled(30)


def _pod(sb, name):
    return sb.get("pods", NS, name)


def _ready(pod) -> str:
    return next(c["status"] for c in pod["status"]["conditions"] if c["type"] == "Ready")


def _events(sb, reason):
    return [e["message"] for e in sb.call(lambda: copy.deepcopy(sb.store.list("events", NS))) if e["reason"] == reason]


def _wait(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_running_pod_status_shape(sb):
    _create(sb, _lws("shape", replicas=1))
    p = _pod(sb, "shape-0-1")
    st = p["status"]
    assert st["phase"] == "Running" and p["spec"]["nodeName"].startswith("n")
    assert [c["type"] for c in st["conditions"]] == ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" for c in st["conditions"])
    cs = st["containerStatuses"][0]
    assert (cs["name"], cs["ready"], cs["restartCount"], list(cs["state"])) == ("main", True, 0, ["running"])
    assert st["podIP"] and st["hostIP"] and st["qosClass"] == "Burstable"
    assert _pod(sb, "shape-0")["status"]["podIP"] != st["podIP"]


def test_crash_once_recreates_group_under_default_policy(sb):
    _create(sb, _lws("boom"))
    before = {n: _pod(sb, n)["metadata"]["uid"] for n in ("boom-1", "boom-1-1")}
    sb.fault("crash", pod=f"{NS}/boom-1-1", exit_code=2)
    sb.wait_settled(30)
    assert "Worker pod boom-1-1 failed, deleted leader pod boom-1 to recreate group 1" in _events(sb, "RecreateGroup")
    after = {n: _pod(sb, n)["metadata"]["uid"] for n in before}
    assert not set(after.values()) & set(before.values())
    assert _pod(sb, "boom-1-1")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_crash_loop_under_policy_none_keeps_pod_in_backoff(sb):
    _create(sb, _lws("loop", lwt={"restartPolicy": "None"}))
    uid = _pod(sb, "loop-1-1")["metadata"]["uid"]
    sb.fault("crash", pod="loop-1-1", namespace=NS, loop=True, exit_code=3)

    def backing_off():
        cs = _pod(sb, "loop-1-1")["status"]["containerStatuses"][0]
        return cs["restartCount"] >= 2 and "waiting" in cs["state"]
    _wait(backing_off)
    p = _pod(sb, "loop-1-1")
    cs = p["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert _ready(p) == "False" and p["metadata"]["uid"] == uid
    _wait(lambda: sb.get(wh.LWS_RESOURCE, NS, "loop")["status"].get("readyReplicas") == 1)
    sb.fault("stop-crash", pod=f"{NS}/loop-1-1")
    _wait(lambda: _ready(_pod(sb, "loop-1-1")) == "True")
    sb.wait_settled(30)
    assert sb.get(wh.LWS_RESOURCE, NS, "loop")["status"]["readyReplicas"] == 2


def test_fail_readiness_drops_ready_groups_and_available(sb):
    _create(sb, _lws("probe"))
    sb.fault("fail-readiness", pod=f"{NS}/probe-0", on=True)
    sb.wait_settled(30)
    lws = sb.get(wh.LWS_RESOURCE, NS, "probe")
    assert _ready(_pod(sb, "probe-0")) == "False" and lws["status"]["readyReplicas"] == 1
    conds = {c["type"]: c["status"] for c in lws["status"]["conditions"]}
    assert conds["Available"] == "False" and conds["Progressing"] == "True"
    sb.fault("fail-readiness", pod=f"{NS}/probe-0", on=False)
    sb.wait_settled(30)
    assert sb.get(wh.LWS_RESOURCE, NS, "probe")["status"]["readyReplicas"] == 2


def test_node_not_ready_marks_its_pods_unready_and_blocks_scheduling(sb):
    _create(sb, _lws("nodey", replicas=1, size=1))
    node = _pod(sb, "nodey-0")["spec"]["nodeName"]
    sb.fault("node-not-ready", node=node, on=True)
    try:
        sb.wait_settled(30)
        assert _ready(_pod(sb, "nodey-0")) == "False"
        # a pod pinned to that node stays Pending with the kube-style message
        lws = _lws("pinned-nr", replicas=1, size=1)
        lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["nodeSelector"] = {
            "kubernetes.io/hostname": node}
        _create(sb, lws)
        cond = next(c for c in _pod(sb, "pinned-nr-0")["status"]["conditions"] if c["type"] == "PodScheduled")
        assert cond["reason"] == "Unschedulable"
        assert cond["message"].startswith("0/4 nodes are available: 1 node(s) had untolerated taint "
                                          "{node.kubernetes.io/not-ready: }, 3 node(s) didn't match Pod's node "
                                          "affinity/selector.")
    finally:
        sb.fault("node-not-ready", node=node, on=False)
    sb.wait_settled(30)
    assert _pod(sb, "pinned-nr-0")["spec"]["nodeName"] == node
    assert _ready(_pod(sb, "nodey-0")) == "True"


def test_pause_controller_holds_scale_until_resumed(sb):
    _create(sb, _lws("paused", replicas=1))
    sb.fault("pause-controller", on=True)
    try:
        def scale():
            obj = copy.deepcopy(sb.store.get(wh.LWS_RESOURCE, NS, "paused"))
            obj["spec"]["replicas"] = 2
            sb.store.update(wh.LWS_RESOURCE, obj)
        sb.call(scale)
        time.sleep(0.2)
        assert sb.get("statefulsets.apps", NS, "paused")["spec"]["replicas"] == 1
    finally:
        sb.fault("pause-controller", on=False)
    sb.wait_settled(30)
    assert sb.get("statefulsets.apps", NS, "paused")["spec"]["replicas"] == 2
    assert _pod(sb, "paused-1-1") is not None


def test_set_env_tampers_pod_spec(sb):
    _create(sb, _lws("tamper", replicas=1))
    sb.fault("set-env", pod=f"{NS}/tamper-0-1", var="LWS_WORKER_INDEX", value="7")
    env = {e["name"]: e["value"] for e in _pod(sb, "tamper-0-1")["spec"]["containers"][0]["env"]}
    assert env["LWS_WORKER_INDEX"] == "7" and env["LWS_GROUP_SIZE"] == "2"


def test_leader_ready_startup_policy_defers_worker_sts(sb):
    sb.fault("pause-controller", on=True, controller="kubelet")
    try:
        sb.call(lambda: sb.store.create(wh.LWS_RESOURCE, wh.admit(
            sb, "CREATE", wh.LWS_RESOURCE, _lws("lr", replicas=1, startupPolicy="LeaderReady"), None)))
        _wait(lambda: _pod(sb, "lr-0") is not None and _pod(sb, "lr-0")["spec"].get("nodeName"))
        time.sleep(0.2)
        assert sb.get("statefulsets.apps", NS, "lr-0") is None
    finally:
        sb.fault("pause-controller", on=False, controller="kubelet")
    sb.wait_settled(30)
    assert sb.get("statefulsets.apps", NS, "lr-0") is not None


def test_orphan_and_background_lws_deletion(sb):
    _create(sb, _lws("orph", replicas=1))
    sb.call(lambda: sb.store.delete(wh.LWS_RESOURCE, NS, "orph", propagation="Orphan"))
    sb.wait_settled(30)
    assert sb.get(wh.LWS_RESOURCE, NS, "orph") is None
    sts = sb.get("statefulsets.apps", NS, "orph")
    assert sts is not None and not sts["metadata"].get("ownerReferences")
    _create(sb, _lws("gone", replicas=2))
    sb.call(lambda: sb.store.delete(wh.LWS_RESOURCE, NS, "gone"))
    sb.wait_settled(30)
    left = sb.call(lambda: [p["metadata"]["name"] for p in sb.store.list("pods", NS, label_selector=f"{wh.NAME}=gone")])
    assert left == [] and sb.get("statefulsets.apps", NS, "gone") is None
    assert sb.get("services", NS, "gone") is None


def test_big_scenario_shape():
    data = scenario.big(groups=4, size=3)
    lws = data["objects"][0]
    assert lws["spec"]["replicas"] == 4 and lws["spec"]["leaderWorkerTemplate"]["size"] == 3
    cap = sum(int(n["capacity"]["pods"]) for n in data["nodes"])
    assert cap >= 12


def test_surge_groups_stay_while_partition_is_set_then_are_reclaimed(sb):
    """Reference §8.2 integration case: R=3, maxSurge=1, partition=2 runs 4 groups until partition 0."""
    _create(sb, _lws("surgy", replicas=3, rolloutStrategy={
        "type": "RollingUpdate", "rollingUpdateConfiguration": {"maxSurge": 1, "partition": 2}}))
    old_key = _pod(sb, "surgy-0")["metadata"]["labels"][wh.REVISION]

    def bump():
        obj = copy.deepcopy(sb.store.get(wh.LWS_RESOURCE, NS, "surgy"))
        obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["image"] = "pause:3.11"
        sb.store.update(wh.LWS_RESOURCE, wh.admit(sb, "UPDATE", wh.LWS_RESOURCE, obj, None))
    sb.call(bump)
    sb.wait_settled(30)
    revs = {i: _pod(sb, f"surgy-{i}")["metadata"]["labels"][wh.REVISION] for i in range(4)}
    assert revs[0] == revs[1] == old_key and revs[2] == revs[3] != old_key
    lws = sb.get(wh.LWS_RESOURCE, NS, "surgy")
    assert lws["status"]["replicas"] == 4 and lws["status"]["updatedReplicas"] == 2
    assert {c["type"]: c["status"] for c in lws["status"]["conditions"]}["Available"] == "True"

    def promote():
        obj = copy.deepcopy(sb.store.get(wh.LWS_RESOURCE, NS, "surgy"))
        obj["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] = 0
        sb.store.update(wh.LWS_RESOURCE, obj)
    sb.call(promote)
    sb.wait_settled(30)
    assert _pod(sb, "surgy-3") is None
    assert {_pod(sb, f"surgy-{i}")["metadata"]["labels"][wh.REVISION] for i in range(3)} == {revs[3]}
    assert sb.get(wh.LWS_RESOURCE, NS, "surgy")["status"]["replicas"] == 3


def test_foreground_lws_deletion_removes_dependents_first(sb):
    _create(sb, _lws("fg", replicas=2))
    seen: list[tuple[str, str]] = []

    def rec(type_, resource, obj, old):
        if type_ == "DELETED" and (obj["metadata"].get("labels") or {}).get(wh.NAME) == "fg" or \
                (type_ == "DELETED" and resource == wh.LWS_RESOURCE):
            seen.append((resource, obj["metadata"]["name"]))
    unsub = sb.call(sb.store.subscribe, rec)
    try:
        sb.call(lambda: sb.store.delete(wh.LWS_RESOURCE, NS, "fg", propagation="Foreground"))
        sb.wait_settled(30)
    finally:
        sb.call(unsub)
    assert seen[-1] == (wh.LWS_RESOURCE, "fg"), "the LWS goes last"
    assert ("pods", "fg-1-1") in seen and ("statefulsets.apps", "fg") in seen
    assert sb.call(lambda: sb.store.list("pods", NS, label_selector=f"{wh.NAME}=fg")) == []


def test_policy_none_worker_delete_replaces_only_that_pod(sb):
    _create(sb, _lws("nonepol", replicas=1, size=3, lwt={"restartPolicy": "None"}))
    before = {n: _pod(sb, n)["metadata"]["uid"] for n in ("nonepol-0", "nonepol-0-1", "nonepol-0-2")}
    sb.call(lambda: sb.store.delete("pods", NS, "nonepol-0-2"))
    sb.wait_settled(30)
    after = {n: _pod(sb, n)["metadata"]["uid"] for n in before}
    assert after["nonepol-0"] == before["nonepol-0"] and after["nonepol-0-1"] == before["nonepol-0-1"]
    assert after["nonepol-0-2"] != before["nonepol-0-2"]


def test_recreate_group_after_start_restarts_a_running_group(sb):
    _create(sb, _lws("afterstart", replicas=1, size=3, lwt={"restartPolicy": "RecreateGroupAfterStart"}))
    before = _pod(sb, "afterstart-0")["metadata"]["uid"]
    sb.fault("crash", pod=f"{NS}/afterstart-0-2")
    sb.wait_settled(30)
    assert _pod(sb, "afterstart-0")["metadata"]["uid"] != before
    assert "Worker pod afterstart-0-2 failed, deleted leader pod afterstart-0 to recreate group 0" in \
        _events(sb, "RecreateGroup")


def test_scheduling_gates_hold_a_pod_until_the_last_one_is_removed(sb):
    """Issue 27 (b): a gated pod is never bound; PodScheduled=False/SchedulingGated with kube's message
    (golden kueue g2 pods), no FailedScheduling event; bound once every gate is gone."""
    lws = _lws("gated", replicas=1, size=1)
    lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["schedulingGates"] = [
        {"name": "example.com/one"}, {"name": "example.com/two"}]
    _create(sb, lws)
    pod = _pod(sb, "gated-0")
    assert not pod["spec"].get("nodeName") and pod["status"]["phase"] == "Pending"
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")
    assert not [m for m in _events(sb, "FailedScheduling") if "gated-0" in m]

    def ungate(keep: list) -> None:
        def run():
            obj = copy.deepcopy(sb.store.get("pods", NS, "gated-0"))
            obj["spec"]["schedulingGates"] = keep
            sb.store.update("pods", obj)
        sb.call(run)
        sb.wait_settled(30)

    ungate([{"name": "example.com/two"}])
    assert not _pod(sb, "gated-0")["spec"].get("nodeName")
    ungate([])
    pod = _pod(sb, "gated-0")
    assert pod["spec"].get("nodeName")
    assert _ready(pod) == "True"


# ---- native sidecars (init containers with restartPolicy: Always, Kubernetes 1.29+) --------------------

def _sidecar_lws(name: str, policy: str = "None") -> dict:
    return _lws(name, replicas=1, lwt={"restartPolicy": policy, "workerTemplate": {"spec": {
        "initContainers": [{"name": "setup", "image": "busybox:1"},
                           {"name": "proxy", "image": "example.org/proxy:1", "restartPolicy": "Always"}],
        "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}}})


def test_native_sidecar_starts_before_the_main_containers_and_keeps_running(sb):
    seen: list[tuple] = []

    def watch(type_, resource, obj, old):
        if resource == "pods" and obj["metadata"]["name"] == "side-0-1":
            st = obj.get("status") or {}
            seen.append((st.get("phase"), [list(cs.get("state") or {}) for cs in st.get("initContainerStatuses") or []],
                         [list(cs.get("state") or {}) for cs in st.get("containerStatuses") or []]))
    sb.call(lambda: sb.store.subscribe(watch))
    _create(sb, _sidecar_lws("side"))
    p = _pod(sb, "side-0-1")
    setup, proxy = p["status"]["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed" and setup["started"] is False
    assert list(proxy["state"]) == ["running"] and proxy["started"] is True and proxy["ready"] is True
    assert p["status"]["phase"] == "Running" and _ready(p) == "True"
    # the sidecar ran while the main container still waited (PodInitializing), as a 1.29+ kubelet does
    assert ("Pending", [["terminated"], ["running"]], [["waiting"]]) in seen
    assert seen[-1][0] == "Running"


def test_native_sidecar_is_restarted_when_it_exits_and_counts_in_kubectl_ready(sb):
    from kubectl_lws.sandbox.tables import pod_cells

    _create(sb, _sidecar_lws("sidecrash"))
    name, uid = "sidecrash-0-1", _pod(sb, "sidecrash-0-1")["metadata"]["uid"]
    assert pod_cells(_pod(sb, name))[1:4] == ["2/2", "Running", "0"]
    sb.fault("crash", pod=f"{NS}/{name}", container="proxy", exit_code=1)
    _wait(lambda: _pod(sb, name)["status"]["initContainerStatuses"][1]["restartCount"] == 1)
    p = _pod(sb, name)
    proxy = p["status"]["initContainerStatuses"][1]
    assert list(proxy["state"]) == ["running"] and proxy["lastState"]["terminated"]["exitCode"] == 1
    assert p["metadata"]["uid"] == uid and p["status"]["containerStatuses"][0]["restartCount"] == 0
    cells = pod_cells(p)
    assert cells[1] == "2/2" and cells[2] == "Running" and cells[3].startswith("1 (")
    sb.fault("crash", pod=f"{NS}/{name}", container="proxy", loop=True, exit_code=2)
    _wait(lambda: "waiting" in _pod(sb, name)["status"]["initContainerStatuses"][1]["state"])
    p = _pod(sb, name)
    assert _ready(p) == "False" and pod_cells(p)[1] == "1/2"
    assert "proxy" in next(c["message"] for c in p["status"]["conditions"] if c["type"] == "ContainersReady")
    sb.fault("stop-crash", pod=f"{NS}/{name}")
    _wait(lambda: _ready(_pod(sb, name)) == "True", timeout=30)
