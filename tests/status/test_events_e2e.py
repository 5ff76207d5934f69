"""Issue 12 end to end: ``status`` explains unhealthy groups from events, re-creation history and loops,
``kubectl lws events``; the real CLI against the sandbox (which emits the events as the real cluster does:
golden ``events/``) over HTTP. Request counts are asserted: healthy status 3, unhealthy 4.
"""

from __future__ import annotations

import json
import time

import pytest

from cliutil import requests_made, run_cli, sandbox_http, wait_for

LWS_API = "/apis/leaderworkerset.x-k8s.io/v1"
NODES = [{"name": f"gpu-{i}", "labels": {"example.com/rack": f"rack-{i % 2}"},
          "capacity": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8", "pods": "110"}} for i in range(4)]


def lws(name: str, ns: str, *, replicas: int = 2, size: int = 2, image: str = "ghcr.io/example/app:1",
        gpus: int = 0, restart: str | None = None) -> dict:
    res: dict = {"requests": {"cpu": "100m"}}
    if gpus:
        res = {"requests": {"cpu": "100m", "nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}}
    tpl: dict = {"size": size, "workerTemplate": {"spec": {"containers": [
        {"name": "main", "image": image, "resources": res}]}}}
    if restart:
        tpl["restartPolicy"] = restart
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": replicas, "leaderWorkerTemplate": tpl}}


def create(sb, obj: dict) -> None:
    ns = obj["metadata"]["namespace"]
    path = f"{LWS_API}/namespaces/{ns}/leaderworkersets" if obj["kind"] == "LeaderWorkerSet" else \
        f"/api/v1/namespaces/{ns}/{obj['kind'].lower()}s"
    sandbox_http(sb, "POST", path, obj)


def quota(name: str, ns: str, hard: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": ns},
            "spec": {"hard": hard}}






def status_json(kc: str, name: str, *extra: str) -> dict:
    r = run_cli(["status", name, "-o", "json", *extra], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def events_of(sb, ns: str, reason: str) -> list[dict]:
    return [e for e in sb.store.list("events", ns) if e.get("reason") == reason]


@pytest.fixture(scope="module")
def nodes(sandbox):
    sandbox.load_scenario({"nodes": NODES})
    return sandbox


def kubeconfig_for(sb, tmp_path, ns: str, token: str | None = None) -> str:
    return sb.write_kubeconfig(tmp_path / f"kc-{ns}-{token}", namespace=ns, token=token)


# ---- quota ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quota_ns(nodes):
    sb = nodes
    sb.ensure_namespace("quota")
    create(sb, quota("gpu", "quota", {"pods": "3", "requests.nvidia.com/gpu": "8"}))
    create(sb, lws("q", "quota", gpus=1))
    wait_for(lambda: events_of(sb, "quota", "FailedCreate"))
    wait_for(lambda: len([p for p in sb.store.list("pods", "quota")
                          if (p.get("status") or {}).get("phase") == "Running"]) == 3)
    return sb


def test_quota_stuck_group_names_the_quota_and_is_not_progressing(quota_ns, tmp_path):
    sb = quota_ns
    kc = kubeconfig_for(sb, tmp_path, "quota")
    r, reqs = requests_made(sb, lambda: run_cli(["status", "q"], kubeconfig=kc))
    assert r.exit_code == 0, r.stderr
    state = next(line for line in r.stdout.splitlines() if line.startswith("State:"))
    assert "Progressing" not in state and state.split()[1] == "Degraded:"
    assert "exceeded quota gpu" in state
    row = next(line for line in r.stdout.splitlines() if line.startswith("1 "))
    assert "Pending: w1 cannot be created: exceeded quota gpu (pods 3/3) (for " in row
    assert "RECREATED" in r.stdout
    # unhealthy: the 3-request budget plus ONE events LIST, narrowed on the server
    assert len(reqs) == 4, reqs
    assert reqs[3][1] == "/api/v1/namespaces/quota/events"
    assert "reason!%3DScheduled" in reqs[3][2] and "limit=" in reqs[3][2]
    doc = status_json(kc, "q")
    g1 = doc["groups"][1]
    assert g1["cause"]["reason"] == "FailedCreate" and g1["cause"]["object"] == "StatefulSet/q-1"
    assert 'pods "q-1-1" is forbidden: exceeded quota: gpu' in g1["cause"]["message"]
    assert g1["cause"]["count"] >= 1 and g1["cause"]["since"].endswith("Z")
    assert doc["groups"][0]["cause"] is None and doc["events"]["read"] is True
    # past --stuck-after the group is Stuck
    stuck = status_json(kc, "q", "--stuck-after", "0s")
    assert stuck["groups"][1]["state"] == "Stuck" and stuck["groups"][1]["stuck"] is True
    # --pods shows the whole message
    r = run_cli(["status", "q", "--pods"], kubeconfig=kc)
    assert "FailedCreate on StatefulSet/q-1 (events)" in r.stdout and "Causes:" in r.stdout


def test_gpu_quota_is_enforced_and_worded_like_kube(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("gpuq")
    create(sb, quota("gpu", "gpuq", {"requests.nvidia.com/gpu": "8"}))
    create(sb, lws("big", "gpuq", replicas=1, size=3, gpus=3))  # 9 GPUs > 8
    ev = wait_for(lambda: events_of(sb, "gpuq", "FailedCreate"))[0]
    assert ev["type"] == "Warning" and ev["source"] == {"component": "statefulset-controller"}
    assert ev["message"] == ('Create Pod big-0-2 in StatefulSet big-0 failed error: pods "big-0-2" is forbidden: '
                             "exceeded quota: gpu, requested: requests.nvidia.com/gpu=3, "
                             "used: requests.nvidia.com/gpu=6, limited: requests.nvidia.com/gpu=8")
    # the legacy recorder aggregates: one event, a growing count (golden: count 12)
    wait_for(lambda: events_of(sb, "gpuq", "FailedCreate")[0].get("count", 0) >= 2)
    assert len(events_of(sb, "gpuq", "FailedCreate")) == 1
    # the API server refuses a direct create the same way (403, Status message)
    from urllib.error import HTTPError

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "extra"},
           "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}
    with pytest.raises(HTTPError) as err:
        sandbox_http(sb, "POST", "/api/v1/namespaces/gpuq/pods", pod)
    assert err.value.code == 403
    assert "exceeded quota: gpu" in json.loads(err.value.read())["message"]


def test_healthy_status_keeps_three_requests_once_the_quota_is_gone(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("quota2")
    create(sb, quota("pods", "quota2", {"pods": "3"}))
    create(sb, lws("h", "quota2"))
    wait_for(lambda: events_of(sb, "quota2", "FailedCreate"))
    sandbox_http(sb, "DELETE", "/api/v1/namespaces/quota2/resourcequotas/pods")
    kc = kubeconfig_for(sb, tmp_path, "quota2")
    wait_for(lambda: status_json(kc, "h")["state"] == "Healthy", timeout=30)
    # every group Ready, but its leaders are minutes old: a re-creation loop is possible, events read
    r, reqs = requests_made(sb, lambda: run_cli(["status", "h"], kubeconfig=kc))
    assert r.exit_code == 0 and "Healthy" in r.stdout
    assert len(reqs) == 4 and "/events" in reqs[3][1] and "RECREATED" in r.stdout
    sb.fault("age", namespace="quota2", seconds=3600)  # an hour later, settled
    r, reqs = requests_made(sb, lambda: run_cli(["status", "h"], kubeconfig=kc))
    assert r.exit_code == 0 and "Healthy" in r.stdout
    assert len(reqs) == 3 and not any("/events" in p for _, p, _ in reqs)
    assert "RECREATED" not in r.stdout  # events not read: the column would claim a 0 it does not know
    assert status_json(kc, "h")["events"] is None


# ---- other causes -----------------------------------------------------------------------------------

def test_webhook_denial_of_pod_creation(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("deny")
    sb.fault("deny-pods", namespace="deny", prefix="d-1", webhook="gpu-policy.example.com",
             message="pods may not request nvidia.com/gpu in this namespace")
    create(sb, lws("d", "deny"))
    wait_for(lambda: events_of(sb, "deny", "FailedCreate"))
    kc = kubeconfig_for(sb, tmp_path, "deny")
    doc = status_json(kc, "d")
    g1 = doc["groups"][1]
    assert g1["cause"]["reason"] == "FailedCreate" and g1["cause"]["object"] == "StatefulSet/d"
    assert 'admission webhook "gpu-policy.example.com" denied the request' in g1["reason"]
    assert doc["state"] in ("Degraded", "Unavailable") and doc["state"] != "Progressing"
    sb.fault("deny-pods", namespace="deny", prefix="d-1", on=False)


def test_image_pull_fault(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("pull")
    sb.fault("image-pull", image="ghcr.io/example/missing:9")
    create(sb, lws("p", "pull", replicas=1, image="ghcr.io/example/missing:9"))
    wait_for(lambda: events_of(sb, "pull", "BackOff"))
    kc = kubeconfig_for(sb, tmp_path, "pull")
    doc = status_json(kc, "p")
    cause = doc["groups"][0]["cause"]
    assert cause["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert "ghcr.io/example/missing:9" in cause["message"] and cause["object"].startswith("Pod/p-0")
    assert doc["state"] != "Progressing"
    sb.fault("image-pull", image="ghcr.io/example/missing:9", on=False)
    wait_for(lambda: status_json(kc, "p")["state"] == "Healthy", timeout=30)


def test_oom_killed(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("oom")
    create(sb, lws("o", "oom", replicas=1, restart="None"))
    kc = kubeconfig_for(sb, tmp_path, "oom")
    wait_for(lambda: status_json(kc, "o")["state"] == "Healthy", timeout=30)
    sb.fault("oom-kill", pod="oom/o-0-1", loop=True)
    doc = wait_for(lambda: (d := status_json(kc, "o"))["groups"][0]["cause"] and d)
    cause = doc["groups"][0]["cause"]
    assert cause["reason"] == "OOMKilled" and "exit code 137" in cause["message"]
    assert cause["object"] == "Pod/o-0-1"
    assert "OOMKilled" in doc["groups"][0]["reason"]
    sb.fault("stop-crash", pod="oom/o-0-1")


def test_failing_probe_has_an_unhealthy_event(nodes, tmp_path):
    sb = nodes
    sb.ensure_namespace("probe")
    create(sb, lws("u", "probe", replicas=1))
    kc = kubeconfig_for(sb, tmp_path, "probe")
    wait_for(lambda: status_json(kc, "u")["state"] == "Healthy", timeout=30)
    sb.fault("fail-readiness", pod="probe/u-0-1")
    doc = wait_for(lambda: (d := status_json(kc, "u"))["groups"][0]["cause"] and d)
    cause = doc["groups"][0]["cause"]
    assert cause["reason"] == "Unhealthy" and cause["message"].startswith("Readiness probe failed")
    ev = events_of(sb, "probe", "Unhealthy")[0]
    assert ev["involvedObject"]["fieldPath"] == "spec.containers{main}" and ev["source"]["component"] == "kubelet"
    sb.fault("fail-readiness", pod="probe/u-0-1", on=False)


# ---- re-creations, the events command -----------------------------------------------------------------

@pytest.fixture(scope="module")
def looping(nodes):
    """An LWS whose group 1 was re-created three times (a worker crash each time)."""
    sb = nodes
    sb.ensure_namespace("loop")
    create(sb, lws("x", "loop"))
    kc = sb.write_kubeconfig("/tmp/kc-loop-fixture" + str(id(sb)), namespace="loop")
    for n in range(1, 4):
        wait_for(lambda: status_json(kc, "x")["state"] == "Healthy", timeout=30)
        sb.fault("crash", pod="loop/x-1-1")
        wait_for(lambda: len(events_of(sb, "loop", "RecreateGroup")) >= n)
    # every group Ready again; the LWS is not Healthy: its group 1 is in a re-creation loop
    wait_for(lambda: status_json(kc, "x")["replicas"]["ready"] == 2, timeout=30)
    return sb, kc


def test_recreation_loop_flagged_in_status_and_list(looping):
    sb, kc = looping
    n = len(events_of(sb, "loop", "RecreateGroup"))
    assert n >= 3
    # every group Ready, but leaders are young enough for a loop: events are read without --events
    doc = status_json(kc, "x")
    rec = doc["groups"][1]["recreations"]
    assert rec["count"] == n and rec["loop"] is True and "recreate group 1" in rec["lastReason"]
    assert doc["groups"][0]["recreations"]["count"] == 0
    # how the last incarnation ended: worker 1 (its exit code too while its Terminating pod still exists)
    assert rec["lastEnd"] in ("w1 failed", "w1 exit 1 Error") and rec["lastEndFrom"] in ("events", "pods")
    assert doc["state"] == "Degraded" and f"group 1 Ready: loop: {rec['lastEnd']}, {n} in " in doc["reason"]
    r = run_cli(["status", "x"], kubeconfig=kc)
    row = next(line for line in r.stdout.splitlines() if line.startswith("1 "))
    assert f"{n} (" in row and "ago) loop" in row
    assert "1h by default" in r.stdout
    r = run_cli(["list", "-o", "json"], kubeconfig=kc)
    item = json.loads(r.stdout)["items"][0]
    assert item["recreationLoops"] == [1] and item["state"] == "Degraded"
    r = run_cli(["list"], kubeconfig=kc)
    assert "Degraded" in r.stdout


def test_events_group_filter_keeps_deleted_incarnations(looping):
    sb, kc = looping
    live = {p["metadata"]["uid"] for p in sb.store.list("pods", "loop")}
    r, reqs = requests_made(sb, lambda: run_cli(["events", "x", "-g", "1", "-o", "json"], kubeconfig=kc))
    assert r.exit_code == 0, r.stderr
    assert len(reqs) == 1 and reqs[0][1] == "/api/v1/namespaces/loop/events"
    items = json.loads(r.stdout)["items"]
    assert items and all(i["group"] == 1 for i in items)
    objects = {i["object"] for i in items}
    assert objects <= {"Pod/x-1", "Pod/x-1-1", "StatefulSet/x-1", "StatefulSet/x", "LeaderWorkerSet/x"}
    assert "LeaderWorkerSet/x" in objects  # RecreateGroup, mapped to group 1 from its message
    gone = {i["objectUid"] for i in items if i["object"] == "Pod/x-1"} - live
    assert len(gone) >= 3  # earlier leaders' events are still shown under group 1
    r = run_cli(["events", "x"], kubeconfig=kc)
    header = r.stdout.splitlines()[0].split()
    assert header == ["LAST", "SEEN", "TYPE", "REASON", "GROUP", "OBJECT", "MESSAGE"]
    r = run_cli(["events", "x", "--types", "Warning", "-o", "json"], kubeconfig=kc)
    assert all(i["type"] == "Warning" for i in json.loads(r.stdout)["items"])


def test_events_usage_and_not_found(looping):
    _, kc = looping
    r = run_cli(["events", "x", "--types", "Critical"], kubeconfig=kc)
    assert r.exit_code == 2 and 'unknown event type "Critical"' in r.stderr
    r = run_cli(["events", "nope"], kubeconfig=kc)
    assert r.exit_code == 1 and 'leaderworkerset "nope" not found' in r.stderr
    r = run_cli(["events"], kubeconfig=kc)
    assert r.exit_code == 2


def test_events_watch_follows_and_stops(looping):
    """-w prints the list, then new events; the watch ends at the server's timeout here (in use: Ctrl-C)."""
    import subprocess
    import sys

    sb, kc = looping
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "--kubeconfig", kc, "events", "x", "-w",
                             "-g", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        sb.fault("crash", pod="loop/x-0-1")
        time.sleep(2.5)
    finally:
        import signal

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert out.splitlines()[0].startswith("LAST SEEN")
    assert "RecreateGroup" in out and "recreate group 0" in out


# ---- which events API, who may read them ---------------------------------------------------------------

def test_status_falls_back_to_events_k8s_io_when_core_events_are_forbidden(quota_ns, tmp_path):
    sb = quota_ns
    sb.add_token("ev-v1-only", "ev-v1-only", [
        {"verbs": ["get", "list", "watch"], "resources": ["leaderworkersets", "pods", "nodes"]},
        {"verbs": ["list"], "resources": ["events"], "apiGroups": ["events.k8s.io"]}])
    kc = kubeconfig_for(sb, tmp_path, "quota", "ev-v1-only")
    doc = status_json(kc, "q")
    assert doc["groups"][1]["cause"]["reason"] == "FailedCreate"
    assert doc["events"]["api"] == "events.k8s.io/v1"


def test_server_serving_only_core_events(quota_ns, tmp_path):
    sb = quota_ns
    sb.fault("fail-requests", path="/apis/events.k8s.io", status=404, count=50)
    try:
        kc = kubeconfig_for(sb, tmp_path, "quota")
        doc = status_json(kc, "q")
        assert doc["groups"][1]["cause"]["reason"] == "FailedCreate" and doc["events"]["api"] == "v1"
        r = run_cli(["events", "q", "-g", "1"], kubeconfig=kc)
        assert r.exit_code == 0 and "FailedCreate" in r.stdout
    finally:
        sb.apiserver.fail_rules.clear()


def test_token_that_cannot_list_events(quota_ns, tmp_path):
    sb = quota_ns
    sb.add_token("no-events", "no-events", [
        {"verbs": ["get", "list", "watch"], "resources": ["leaderworkersets", "pods", "nodes"]}])
    kc = kubeconfig_for(sb, tmp_path, "quota", "no-events")
    r = run_cli(["status", "q"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("cannot list events (forbidden)") == 1
    assert "causes of unhealthy groups and re-creation history are unavailable" in r.stderr
    assert "State:" in r.stdout and "RECREATED" not in r.stdout
    r = run_cli(["status", "q", "-o", "json"], kubeconfig=kc)
    assert json.loads(r.stdout)["events"]["read"] is False
