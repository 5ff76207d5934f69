"""Issue 16: what the simulated cluster must be able to show. Impersonation checked against the
impersonated user's rights, exec needing `create` on pods/exec, limited tokens from `sandbox up`,
429 with Retry-After, streams cut or expired while they run, a stalled exec stream, and an API
server that restarts on the same address and token. Product behaviour goes through the real CLI."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cliutil import run_cli, sandbox_http
from conftest import start_sandbox
from kubectl_lws.commands.sandbox import parse_token_specs

NS = "f16"
LWS = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
       "metadata": {"name": "solo", "namespace": NS},
       "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {"containers": [
           {"name": "main", "image": "example/x:1", "resources": {"requests": {"cpu": "100m"}}}]}}}}}
NODES = [{"name": "n1", "capacity": {"cpu": "32", "memory": "64Gi", "pods": "110"}}]


@pytest.fixture(scope="module")
def sb():
    s = start_sandbox(tokens={"viewer-token": {"user": "jane", "rules": [
        {"verbs": ["get", "list", "watch"], "resources": ["*"]}]}})
    try:
        s.load_scenario({"nodes": NODES, "namespaces": [NS], "objects": [LWS]})
        s.wait_settled(30)
        yield s
    finally:
        s.stop()


def _req(sb, method: str, path: str, token: str | None = None, headers: dict | None = None,
         body: object | None = None) -> tuple[int, dict, dict]:
    h = {"Authorization": f"Bearer {token or sb.admin_token}", "Content-Type": "application/merge-patch+json"}
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sb.url + path, method=method, headers=h, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


def _partition(sb) -> int:
    return sb.get("leaderworkersets.leaderworkerset.x-k8s.io", NS, "solo")["spec"]["rolloutStrategy"][
        "rollingUpdateConfiguration"]["partition"]


def test_as_nobody_does_not_act_as_admin(sb, tmp_path: Path) -> None:
    kc = sb.write_kubeconfig(tmp_path / "kc", namespace=NS)
    rv = sb.get("leaderworkersets.leaderworkerset.x-k8s.io", NS, "solo")["metadata"]["resourceVersion"]
    res = run_cli(["--as", "nobody", "rollout", "pause", "solo", "-y"], kubeconfig=kc)
    assert res.exit_code == 1, res.stderr
    assert "forbidden" in res.stderr.lower() and "nobody" in res.stderr
    assert sb.get("leaderworkersets.leaderworkerset.x-k8s.io", NS, "solo")["metadata"]["resourceVersion"] == rv
    # the impersonated user's own rights apply: jane may read, not write
    res = run_cli(["--as", "jane", "status", "solo"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    res = run_cli(["--as", "jane", "scale", "solo", "--replicas", "3", "-y"], kubeconfig=kc)
    assert res.exit_code == 1 and "jane" in res.stderr
    assert sb.get("leaderworkersets.leaderworkerset.x-k8s.io", NS, "solo")["spec"]["replicas"] == 2


def test_a_limited_token_cannot_impersonate(sb) -> None:
    code, _, body = _req(sb, "GET", f"/api/v1/namespaces/{NS}/pods", token="viewer-token",
                         headers={"Impersonate-User": "kubernetes-admin"})
    assert code == 403 and "cannot impersonate" in body["message"]
    code, _, _ = _req(sb, "GET", f"/api/v1/namespaces/{NS}/pods", headers={"Impersonate-Group": "system:masters",
                                                                          "Impersonate-User": "x"})
    assert code == 200


def test_exec_needs_create_on_pods_exec(sb) -> None:
    path = f"/api/v1/namespaces/{NS}/pods/solo-0/exec?command=true&stdout=true"
    code, _, body = _req(sb, "GET", path, token="viewer-token")
    assert code == 403 and 'cannot create resource "pods/exec"' in body["message"]


def test_429_carries_retry_after(sb) -> None:
    sb.fault("fail-requests", path=f"/api/v1/namespaces/{NS}/services", status=429, retry_after=3)
    code, headers, body = _req(sb, "GET", f"/api/v1/namespaces/{NS}/services")
    assert code == 429 and headers.get("Retry-After") == "3"
    assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 3


def _open_stream(sb, path: str) -> socket.socket:
    host, port = sb.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sb.admin_token}\r\n\r\n".encode())
    return sock


def _read_until_closed(sock: socket.socket, limit: float = 5) -> tuple[bytes, str]:
    data, end = b"", "eof"
    sock.settimeout(limit)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "timeout"
    return data, end


def test_break_streams_expires_a_running_watch_with_410(sb) -> None:
    sock = _open_stream(sb, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion=0")
    time.sleep(0.3)
    assert sb.fault("break-streams", kind="watch", mode="expire")["streams"] >= 1
    data, _end = _read_until_closed(sock, limit=2)
    assert b'"type":"ERROR"' in data and b'"code":410' in data
    assert data.endswith(b"0\r\n\r\n")  # the watch response ended (the connection may stay alive)


def test_break_streams_resets_a_running_log_stream(sb) -> None:
    sock = _open_stream(sb, f"/api/v1/namespaces/{NS}/pods/solo-0/log?follow=true")
    time.sleep(0.3)
    assert sb.fault("break-streams", kind="log")["streams"] >= 1
    _data, end = _read_until_closed(sock)
    assert end in ("reset", "eof") and end != "timeout"


def test_stalled_exec_opens_and_stays_silent(sb) -> None:
    sb.fault("stall-exec", pod=f"{NS}/solo-1")
    host, port = sb.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall((f"GET /api/v1/namespaces/{NS}/pods/solo-1/exec?command=true&stdout=true HTTP/1.1\r\n"
                  f"Host: x\r\nAuthorization: Bearer {sb.admin_token}\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n").encode())
    sock.settimeout(5)
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        sock.recv(4096)  # no output, no status
    sock.close()
    sb.fault("stall-exec", pod=f"{NS}/solo-1", on=False)


def test_apiserver_restarts_on_the_same_address_and_token(sb, tmp_path: Path) -> None:
    kc = sb.write_kubeconfig(tmp_path / "kc", namespace=NS)
    url = sb.url
    sb.fault("restart-apiserver", down=1.5)
    time.sleep(0.2)
    res = run_cli(["status", "solo"], kubeconfig=kc)
    assert res.exit_code == 1 and "cannot reach" in res.stderr  # down
    time.sleep(1.6)
    assert sb.url == url
    res = run_cli(["status", "solo"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr  # same address, same token, same objects


def test_token_specs_from_the_cli() -> None:
    tokens = parse_token_specs(["v=jane:get,list,watch:pods,leaderworkersets:demo", "v=jane:get:nodes",
                                "a=root:*", "n=nobody"])
    assert tokens["v"]["rules"] == [
        {"verbs": ["get", "list", "watch"], "resources": ["pods", "leaderworkersets"], "apiGroups": ["*"],
         "namespaces": ["demo"]},
        {"verbs": ["get"], "resources": ["nodes"], "apiGroups": ["*"]}]
    assert tokens["a"] == {"user": "root", "rules": None}
    assert tokens["n"] == {"user": "nobody", "rules": []}
    for bad in ("novalue", "t=", "t=u:a:b:c:d"):
        with pytest.raises(Exception):
            parse_token_specs([bad])


def test_sandbox_up_token_limits_a_user(tmp_path: Path) -> None:
    kc = tmp_path / "kc.yaml"
    r = run_cli(["sandbox", "up", "--detach", "--kubeconfig", str(kc), "--speed", "20",
                 "--token", "ro=jane:get,list,watch"])
    try:
        assert r.exit_code == 0, r.stderr
        assert "token ro: user jane (get,list,watch *); use it with --token ro" in r.stderr
        ok = run_cli(["--token", "ro", "list", "-A"], kubeconfig=str(kc))
        assert ok.exit_code == 0, ok.stderr
        denied = run_cli(["--token", "ro", "sandbox", "fault", "x"], kubeconfig=str(kc))  # admin API: admin only
        assert denied.exit_code == 1
        sandbox_like = run_cli(["--token", "ro", "scale", "nothere", "--replicas", "1", "-y"], kubeconfig=str(kc))
        assert sandbox_like.exit_code == 1
    finally:
        run_cli(["sandbox", "down", "--kubeconfig", str(kc)])


def test_access_review_answers_for_the_impersonated_user(sb) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": NS}}}
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    h = {"Content-Type": "application/json"}
    code, _, body = _req(sb, "POST", path, headers={**h, "Impersonate-User": "nobody"}, body=review)
    assert code == 201 and body["status"]["allowed"] is False
    code, _, body = _req(sb, "POST", path, headers={**h, "Impersonate-User": "jane"}, body=review)
    assert code == 201 and body["status"]["allowed"] is True
