"""API server behaviour beyond single recorded exchanges: watch, delete, scale, dryRun, patches, the
events.k8s.io view, the request log, injected request failures, admin API and TLS."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from conftest import load_golden_objects, start_sandbox
from golden import GOLDEN, read_http

LWS = "leaderworkersets.leaderworkerset.x-k8s.io"
LWS_PATH = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/golden/leaderworkersets"


@pytest.fixture(scope="module")
def sb() -> Iterator:
    sandbox = start_sandbox(plugins=(), tokens={"reader": {"user": "reader", "rules": [
        {"verbs": ["get", "list", "watch"], "resources": ["*"]}]}})
    load_golden_objects(sandbox, ("single", "basic"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def call(sb, method: str, path: str, body: Any = None, *, ctype: str = "application/json",
         token: str | None = None, accept: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(sb.url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token or sb.admin_token}", "Content-Type": ctype, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            raw = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read().decode(), e.code
    if not raw.strip():
        return status, []
    try:
        return status, json.loads(raw)
    except ValueError:  # a watch stream: one JSON event per line
        return status, [json.loads(ln) for ln in raw.splitlines() if ln.strip()] if raw.startswith("{") else raw


def test_watch_without_rv_sends_added_then_live_changes(sb) -> None:
    def later() -> None:
        time.sleep(0.4)

        def touch() -> None:
            pod = json.loads(json.dumps(sb.store.get("pods", "golden", "single-0")))
            pod["metadata"]["labels"]["touched"] = "yes"
            sb.store.update("pods", pod)
        sb.call(touch)
    threading.Thread(target=later, daemon=True).start()
    status, events = call(sb, "GET", "/api/v1/namespaces/golden/pods?watch=true&timeoutSeconds=2&"
                                     "labelSelector=leaderworkerset.sigs.k8s.io%2Fname%3Dsingle")
    assert status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "single-0"), ("ADDED", "single-1"), ("MODIFIED", "single-0")]
    assert events[-1]["object"]["metadata"]["labels"]["touched"] == "yes"
    assert events[0]["object"]["kind"] == "Pod"


def test_watch_from_rv_replays_and_label_exit_is_deleted(sb) -> None:
    rv = sb.call(lambda: sb.store.resource_version)

    def relabel() -> None:
        pod = json.loads(json.dumps(sb.store.get("pods", "golden", "basic-1-1")))
        pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] = "other"
        sb.store.update("pods", pod)
    sb.call(relabel)
    status, events = call(sb, "GET", f"/api/v1/namespaces/golden/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1"
                                     "&labelSelector=leaderworkerset.sigs.k8s.io%2Fname%3Dbasic")
    # Replayed history matches on the new object only; a live relabel turns into DELETED.
    assert status == 200 and events == []

    def back() -> None:
        time.sleep(0.3)

        def undo() -> None:
            pod = json.loads(json.dumps(sb.store.get("pods", "golden", "basic-1-1")))
            pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] = "basic"
            sb.store.update("pods", pod)
            pod = json.loads(json.dumps(sb.store.get("pods", "golden", "basic-1-1")))
            pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] = "gone"
            sb.store.update("pods", pod)
        sb.call(undo)
    threading.Thread(target=back, daemon=True).start()
    rv2 = sb.call(lambda: sb.store.resource_version)
    status, events = call(sb, "GET", f"/api/v1/namespaces/golden/pods?watch=1&resourceVersion={rv2}&timeoutSeconds=1"
                                     "&labelSelector=leaderworkerset.sigs.k8s.io%2Fname%3Dbasic")
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > rv2 for e in events)


def test_watch_send_initial_events_bookmark_like_golden(sb) -> None:
    golden = [json.loads(ln) for ln in read_http("http/watch/watch-pods-single-sendInitialEvents-bookmark.http")
              .body.splitlines() if ln.strip()]
    golden_bm = next(e for e in golden if e["type"] == "BOOKMARK")
    status, events = call(sb, "GET", "/api/v1/namespaces/golden/pods?watch=1&sendInitialEvents=true&"
                                     "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1&"
                                     "labelSelector=leaderworkerset.sigs.k8s.io%2Fname%3Dsingle")
    assert [e["type"] for e in events] == [e["type"] for e in golden][:len(events)]
    bm = next(e for e in events if e["type"] == "BOOKMARK")
    assert list(bm["object"]) == list(golden_bm["object"])
    assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bm["object"]["spec"] == {"containers": None}


def test_delete_pod_default_and_foreground_like_golden(sb) -> None:
    golden = json.loads(read_http("http/pods/delete-pod-basic-1-leader-default-propagation.http").body)
    status, pod = call(sb, "DELETE", "/api/v1/namespaces/golden/pods/basic-1")
    assert status == 200 and pod["kind"] == "Pod"
    assert pod["metadata"]["deletionGracePeriodSeconds"] == golden["metadata"]["deletionGracePeriodSeconds"] == 30
    assert pod["metadata"]["generation"] == golden["metadata"]["generation"] == 2
    status, pod = call(sb, "DELETE", "/api/v1/namespaces/golden/pods/basic-0",
                       {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
    assert status == 200 and pod["metadata"]["finalizers"] == ["foregroundDeletion"]
    status, pod = call(sb, "DELETE", "/api/v1/namespaces/golden/pods/basic-0?gracePeriodSeconds=0")
    assert status == 200 and sb.get("pods", "golden", "basic-0") is not None  # finalizer still holds it


def test_scale_patch_reports_new_spec_old_status(sb) -> None:
    golden = json.loads(read_http("http/scale/patch-scale-single-merge-2to3.http").body)

    def set_status() -> None:
        lws = json.loads(json.dumps(sb.store.get(LWS, "golden", "single")))
        lws["spec"]["replicas"] = 2
        lws["status"] = {"replicas": 2, "hpaPodSelector": golden["status"]["selector"]}
        sb.store.update(LWS, lws)
    sb.call(set_status)
    status, scale = call(sb, "PATCH", LWS_PATH + "/single/scale", {"spec": {"replicas": 3}},
                         ctype="application/merge-patch+json")
    assert status == 200
    assert scale["spec"] == golden["spec"] and scale["status"] == golden["status"]
    assert sb.get(LWS, "golden", "single")["spec"]["replicas"] == 3


def test_golden_updates_succeed(sb) -> None:
    for rel in ("http/lws/patch-partition-merge-patch.http", "http/lws/patch-partition-json-patch.http"):
        ex = read_http(rel)
        status, obj = call(sb, ex.method, ex.path, ex.request_body.encode(), ctype=ex.request_headers["content-type"])
        assert status == 200, obj
    assert sb.get(LWS, "golden", "single")["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] == 0
    ex = read_http("http/lws/put-lws-update-ok.http")
    body = json.loads(ex.request_body)
    body["metadata"]["resourceVersion"] = sb.get(LWS, "golden", body["metadata"]["name"])["metadata"]["resourceVersion"]
    status, obj = call(sb, "PUT", ex.path, body)
    assert status == 200, obj
    stale = dict(body, metadata=dict(body["metadata"], resourceVersion="1"))
    assert call(sb, "PUT", ex.path, stale)[0] == 409


def test_dry_run_does_not_store(sb) -> None:
    before = sb.call(lambda: sb.store.resource_version)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dry"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}}
    status, obj = call(sb, "POST", "/api/v1/namespaces/golden/pods?dryRun=All", pod)
    assert status == 201 and obj["metadata"]["name"] == "dry"
    status, _ = call(sb, "DELETE", "/api/v1/namespaces/golden/pods/single-1?dryRun=All")
    assert status == 200
    assert sb.get("pods", "golden", "dry") is None and sb.get("pods", "golden", "single-1") is not None
    assert sb.call(lambda: sb.store.resource_version) == before


def test_create_in_missing_namespace_and_bad_name(sb) -> None:
    pod = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    status, body = call(sb, "POST", "/api/v1/namespaces/nope/pods", pod)
    assert status == 404 and body["message"] == 'namespaces "nope" not found'
    status, body = call(sb, "POST", "/api/v1/namespaces/golden/pods", dict(pod, metadata={"name": "Bad_Name"}))
    assert status == 422 and body["message"].startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid value')


def test_strategic_merge_patch_on_pod_merges_containers_by_name(sb) -> None:
    status, pod = call(sb, "PATCH", "/api/v1/namespaces/golden/pods/single-1",
                       {"metadata": {"labels": {"extra": "1"}}, "spec": {"containers": [
                           {"name": "main", "image": "new:1"}]}}, ctype="application/strategic-merge-patch+json")
    assert status == 200, pod
    assert pod["metadata"]["labels"]["extra"] == "1"
    assert pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] == "single"
    main = [c for c in pod["spec"]["containers"] if c["name"] == "main"]
    assert len(main) == 1 and main[0]["image"] == "new:1"
    assert main[0]["env"] and main[0]["volumeMounts"]  # merged into, not replaced


def test_events_k8s_io_is_a_view_of_core_events(sb) -> None:
    core = json.loads((GOLDEN / "objects/events-core-v1.json").read_text())["items"][0]
    want = json.loads((GOLDEN / "objects/events-events.k8s.io-v1.json").read_text())["items"][0]
    sb.create("events", core)
    status, ev = call(sb, "GET", f"/apis/events.k8s.io/v1/namespaces/golden/events/{core['metadata']['name']}")
    assert status == 200
    assert [k for k in ev if k not in ("kind", "apiVersion")] == list(want)
    assert ev["regarding"] == want["regarding"] and ev["note"] == want["note"]
    status, lst = call(sb, "GET", "/apis/events.k8s.io/v1/namespaces/golden/events?fieldSelector=regarding.name%3D"
                                  + core["involvedObject"]["name"])
    assert status == 200 and lst["kind"] == "EventList" and len(lst["items"]) == 1


def test_request_log_counts_and_fail_requests_fault(sb) -> None:
    sb.request_log.clear()
    for _ in range(3):
        call(sb, "GET", "/api/v1/namespaces/golden/pods/single-0")
    assert sb.request_log.count("GET", "/api/v1/namespaces/golden/pods") == 3
    assert sb.request_log.count("POST") == 0
    sb.fault("fail-requests", path="/api/v1/namespaces/golden/pods/single-0", status=503, count=2)
    codes = [call(sb, "GET", "/api/v1/namespaces/golden/pods/single-0")[0] for _ in range(3)]
    assert codes == [503, 503, 200]
    assert [e[3] for e in sb.request_log.snapshot()[-3:]] == [503, 503, 200]


def test_admin_api_needs_admin_token(sb) -> None:
    status, body = call(sb, "POST", "/sandbox/v1/faults/fail-requests", {"path": "/nothing", "count": 1},
                        token="reader")
    assert status == 403
    status, body = call(sb, "POST", "/sandbox/v1/faults/fail-requests", {"path": "/nothing", "count": 1})
    assert status == 200 and body["result"]["count"] == 1
    status, body = call(sb, "GET", "/sandbox/v1/requests")
    assert status == 200 and body["items"][-1]["path"] == "/sandbox/v1/faults/fail-requests"


def test_rules_token_read_only(sb) -> None:
    assert call(sb, "GET", "/api/v1/namespaces/golden/pods", token="reader")[0] == 200
    status, body = call(sb, "DELETE", "/api/v1/namespaces/golden/pods/single-0", token="reader")
    assert status == 403 and 'User "reader" cannot delete resource "pods"' in body["message"]


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("kubectl") is None,
                    reason="TLS test needs the openssl and kubectl commands")
def test_tls_sandbox_with_kubectl(tmp_path) -> None:
    sb = start_sandbox(plugins=(), tls=True)
    try:
        assert sb.url.startswith("https://")
        kc = sb.write_kubeconfig(tmp_path / "kc")
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "ns", "-o", "name"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "namespace/default" in r.stdout.split()
        import ssl
        ctx = ssl.create_default_context(cafile=sb.ca_file)
        req = urllib.request.Request(sb.url + "/api/v1/namespaces")
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        assert ei.value.code == 401
    finally:
        sb.stop()


def test_deleting_a_namespace_removes_its_objects(sb) -> None:
    sb.ensure_namespace("doomed")
    sb.create("pods", {"metadata": {"name": "p", "namespace": "doomed"}, "spec": {"containers": [], "nodeName": "n"}})
    status, _ = call(sb, "DELETE", "/api/v1/namespaces/doomed")
    assert status == 200
    assert sb.get("namespaces", None, "doomed") is None and sb.get("pods", "doomed", "p") is None
    assert call(sb, "GET", "/api/v1/namespaces/doomed/pods/p")[0] == 404


def test_idle_watch_gets_bookmarks_when_allowed(sb, monkeypatch) -> None:
    from kubectl_lws.sandbox import apiserver
    monkeypatch.setattr(apiserver, "BOOKMARK_INTERVAL", 0.5)
    rv = sb.call(lambda: sb.store.resource_version)
    status, events = call(sb, "GET", f"/api/v1/namespaces/golden/pods?watch=1&resourceVersion={rv}"
                                     "&allowWatchBookmarks=true&timeoutSeconds=2")
    assert status == 200 and events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["metadata"]["resourceVersion"] == str(rv)
    status, events = call(sb, "GET", f"/api/v1/namespaces/golden/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert events == []


def test_pod_binding_and_eviction(sb) -> None:
    sb.create("pods", {"metadata": {"name": "unbound", "namespace": "golden"}, "spec": {"containers": []}})
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "unbound"},
            "target": {"kind": "Node", "name": "gpu-a1"}}
    path = "/api/v1/namespaces/golden/pods/unbound"
    status, out = call(sb, "POST", path + "/binding", body)
    assert status == 201 and out["status"] == "Success"
    pod = sb.get("pods", "golden", "unbound")
    assert pod["spec"]["nodeName"] == "gpu-a1" and pod["metadata"]["generation"] == 1
    assert [c["status"] for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"] == ["True"]
    # A second binding is a Conflict on pods/binding, worded as kube's BindingREST words it.
    status, out = call(sb, "POST", path + "/binding", body)
    assert status == 409 and out["reason"] == "Conflict"
    assert out["message"] == ('Operation cannot be fulfilled on pods/binding "unbound": pod unbound is already '
                              'assigned to node "gpu-a1"')
    assert out["details"] == {"name": "unbound", "kind": "pods/binding"}
    status, out = call(sb, "POST", path + "/eviction", {"kind": "Eviction", "metadata": {"name": "other"}})
    assert (status, out["message"]) == (400, "name in URL does not match name in Eviction object")
    # Eviction deletes through the normal path: a bound pod gets its grace period and a deletionTimestamp.
    status, out = call(sb, "POST", path + "/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                        "metadata": {"name": "unbound", "namespace": "golden"}})
    assert status == 201 and out["status"] == "Success"
    meta = sb.get("pods", "golden", "unbound")["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    status, out = call(sb, "POST", path + "/binding", body)
    assert status == 409 and out["message"].endswith("pod unbound is being deleted, cannot be assigned to a host")
    assert call(sb, "POST", "/api/v1/namespaces/golden/pods/nope/eviction", {"kind": "Eviction"})[0] == 404
